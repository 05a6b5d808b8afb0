//! Both sides of a client's allocation query, Nomad's `GetClientAllocs` made incremental in
//! both directions.
//!
//! A client in step with the servers sends one number, the index of the last answer it took in
//! whole, and receives only the allocations the servers changed after it, plus how many the node
//! has in all. Neither side walks or sends the ids of what did not change: at a million
//! allocations on 5,000 nodes, the id lists every wake carried both ways (200 per node, each
//! decoded into a map and matched) cost more than the placements themselves.
//!
//! What the count is for: an allocation the servers forgot (garbage-collected) never shows up as
//! a change. After taking the changes, the client holds every allocation the servers hold (all
//! those not changed since its index were in its earlier answer), plus any they forgot; so its
//! count is above theirs exactly when some were forgot. It then lists what it knows, with its
//! index, once, and learns which ids are gone from the ids that come back as still current.

use super::NodeAllocs;
use api::Allocation;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// What a client already has of its node's allocations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum KnownAllocs {
    /// Everything the servers had for the node at this index (the answer's `index`): only
    /// allocations whose AllocModifyIndex is past it come back.
    Since(u64),
    /// Allocation id -> the AllocModifyIndex the client has of it: those still at it come back
    /// as ids only (`NodeAllocs::unchanged`), the others in full.
    Listed(BTreeMap<String, u64>),
}

impl Default for KnownAllocs {
    /// Nothing known: every allocation comes back in full.
    fn default() -> Self {
        KnownAllocs::Since(0)
    }
}

/// The servers' answer, from the node's allocations in id order (as the state keeps them).
/// Only the allocations sent in full are copied.
pub fn answer<'a>(
    allocs: impl Iterator<Item = &'a Allocation>,
    known: &KnownAllocs,
    index: u64,
) -> NodeAllocs {
    let mut out = NodeAllocs {
        index,
        ..Default::default()
    };
    match known {
        KnownAllocs::Since(since) => {
            for a in allocs {
                out.total += 1;
                if a.alloc_modify_index > *since {
                    out.changed.push(a.clone());
                }
            }
        }
        KnownAllocs::Listed(listed) => {
            // Walk the two id-ordered lists together, one comparison per step, rather than
            // searching `listed` for each allocation. One out of order is looked up instead.
            let mut cursor = listed.iter().peekable();
            let mut previous: Option<&str> = None;
            for a in allocs {
                out.total += 1;
                let id = a.id.as_str();
                let seen = if previous.is_some_and(|p| p > id) {
                    listed.get(id).copied()
                } else {
                    while cursor.next_if(|(k, _)| k.as_str() < id).is_some() {}
                    cursor
                        .peek()
                        .filter(|(k, _)| k.as_str() == id)
                        .map(|(_, i)| **i)
                };
                previous = Some(id);
                if seen == Some(a.alloc_modify_index) {
                    out.unchanged.push(a.id.clone());
                } else {
                    out.changed.push(a.clone());
                }
            }
        }
    }
    out
}

/// The client's side: what it knows, and what to ask next.
#[derive(Debug, Default)]
pub struct AllocSync {
    /// The index of the last answer taken.
    index: u64,
    /// Allocation id -> AllocModifyIndex, of every allocation the servers had in that answer.
    known: BTreeMap<String, u64>,
    /// The next query lists `known`: the last count disagreed, or the servers' state was reset.
    listing: bool,
}

impl AllocSync {
    /// The next query's `min_index` and what to tell the servers. A listing is answered at once.
    pub fn query(&self) -> (u64, KnownAllocs) {
        if self.listing {
            (0, KnownAllocs::Listed(self.known.clone()))
        } else {
            (self.index, KnownAllocs::Since(self.index))
        }
    }

    /// Takes an answer to the last [`AllocSync::query`]. False when it must be thrown away (the
    /// servers' state went back, as after a new cluster was bootstrapped): the next query lists
    /// what is known instead.
    pub fn absorb(&mut self, got: &NodeAllocs) -> bool {
        if got.index < self.index {
            self.index = 0;
            self.listing = true;
            return false;
        }
        if self.listing {
            let current: HashSet<&str> = got
                .unchanged
                .iter()
                .chain(got.changed.iter().map(|a| &a.id))
                .map(String::as_str)
                .collect();
            self.known.retain(|id, _| current.contains(id.as_str()));
        }
        for a in &got.changed {
            self.known.insert(a.id.clone(), a.alloc_modify_index);
        }
        self.index = got.index;
        // After a listing the two sets are equal by construction: asking again could only loop.
        self.listing = !self.listing && self.known.len() != got.total;
        true
    }

    /// Whether the servers still had allocation `id` at the last answer (allocations they
    /// forgot leave at the next listing).
    pub fn contains(&self, id: &str) -> bool {
        self.known.contains_key(id)
    }

    /// Allocations the client holds for the servers.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.known.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Answers as the servers do, from their `Arc`s.
    fn answer<'a>(
        allocs: impl Iterator<Item = &'a Arc<Allocation>>,
        known: &KnownAllocs,
        index: u64,
    ) -> NodeAllocs {
        super::answer(allocs.map(|a| &**a), known, index)
    }

    fn alloc(id: &str, index: u64) -> Arc<Allocation> {
        Arc::new(Allocation {
            id: id.into(),
            alloc_modify_index: index,
            ..Default::default()
        })
    }

    fn ids(allocs: &[Allocation]) -> Vec<&str> {
        allocs.iter().map(|a| a.id.as_str()).collect()
    }

    #[test]
    fn a_client_with_a_thousand_finished_allocations_receives_only_what_changed() {
        // Scenario: 1,000 terminal allocations and one running one on a node. The client's
        // first wake knows nothing and receives all; after that, a wake receives only the
        // allocation the servers changed, and neither side sends the ids of the rest.
        let mut state: Vec<Arc<Allocation>> = (0..1000)
            .map(|i| {
                Arc::new(Allocation {
                    id: format!("done-{i:04}"),
                    client_status: api::ALLOC_CLIENT_COMPLETE.into(),
                    alloc_modify_index: 10,
                    ..Default::default()
                })
            })
            .collect();
        state.push(alloc("web", 20));
        let mut client = AllocSync::default();
        let (_, known) = client.query();
        let first = answer(state.iter(), &known, 20);
        assert_eq!((first.changed.len(), first.total), (1001, 1001));
        assert!(client.absorb(&first));
        // The servers stop "web": its AllocModifyIndex moves.
        let mut stopped = (*state[1000]).clone();
        stopped.desired_status = api::ALLOC_DESIRED_STOP.into();
        stopped.alloc_modify_index = 30;
        state[1000] = Arc::new(stopped);
        let (min_index, known) = client.query();
        assert_eq!((min_index, &known), (20, &KnownAllocs::Since(20)));
        let next = answer(state.iter(), &known, 30);
        assert_eq!(
            ids(&next.changed),
            ["web"],
            "only the stopped allocation is sent"
        );
        assert!(next.unchanged.is_empty(), "no ids travel back");
        assert!(client.absorb(&next));
        assert_eq!(client.query().1, KnownAllocs::Since(30));
        assert_eq!(client.len(), 1001);
    }

    #[test]
    fn allocations_the_servers_forgot_leave_after_one_listing() {
        // Scenario: the servers garbage-collect two of a node's three allocations and place a
        // new one. The change shows the new one; the count (2 against the client's 4) sends the
        // client to list what it knows, once, and the listing's answer drops the forgotten two.
        let mut state = vec![alloc("a", 5), alloc("b", 5), alloc("c", 5)];
        let mut client = AllocSync::default();
        assert!(client.absorb(&answer(state.iter(), &client.query().1, 5)));
        state.retain(|a| a.id == "c");
        state.push(alloc("d", 9));
        let (_, known) = client.query();
        let got = answer(state.iter(), &known, 9);
        assert_eq!((ids(&got.changed), got.total), (vec!["d"], 2));
        assert!(client.absorb(&got));
        assert!(client.contains("a"), "not gone until listed");
        let (min_index, known) = client.query();
        assert_eq!(min_index, 0, "a listing is answered at once");
        let KnownAllocs::Listed(listed) = &known else {
            panic!("expected a listing, got {known:?}");
        };
        assert_eq!(listed.len(), 4);
        let got = answer(state.iter(), &known, 9);
        assert!(got.changed.is_empty());
        assert_eq!(got.unchanged, ["c", "d"]);
        assert!(client.absorb(&got));
        assert!(!client.contains("a") && !client.contains("b"));
        assert_eq!(client.query(), (9, KnownAllocs::Since(9)));
    }

    #[test]
    fn a_state_that_went_back_is_answered_by_a_listing() {
        // Scenario: the servers were replaced by a new cluster whose index is lower. The
        // answer is thrown away and the next query lists what the client knows.
        let state = [alloc("a", 50)];
        let mut client = AllocSync::default();
        assert!(client.absorb(&answer(state.iter(), &client.query().1, 50)));
        let fresh = [alloc("z", 3)];
        assert!(!client.absorb(&answer(fresh.iter(), &KnownAllocs::Since(50), 3)));
        let (min_index, known) = client.query();
        assert_eq!(min_index, 0);
        let got = answer(fresh.iter(), &known, 3);
        assert!(client.absorb(&got));
        assert!(client.contains("z") && !client.contains("a"));
    }

    #[test]
    fn listed_allocations_are_matched_whatever_the_gaps_and_order() {
        // Scenario: the client lists allocations the node no longer has (collected), lacks new
        // ones, holds one at an old index, and one allocation arrives out of id order: each is
        // judged as a lookup would judge it.
        let allocs = [
            alloc("b", 1),
            alloc("d", 2),
            alloc("e", 3),
            alloc("g", 4),
            alloc("a", 5),
        ];
        let listed = [("a", 5), ("c", 9), ("d", 2), ("e", 1), ("f", 7)]
            .into_iter()
            .map(|(id, i)| (id.to_string(), i))
            .collect();
        let got = answer(allocs.iter(), &KnownAllocs::Listed(listed), 9);
        assert_eq!(ids(&got.changed), ["b", "e", "g"]);
        assert_eq!(got.unchanged, ["d", "a"]);
        assert_eq!(got.total, 5);
    }
}
