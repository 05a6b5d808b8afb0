//! `GET /v1/event/stream`: newline-delimited JSON, one object per raft index that changed
//! something a subscriber wants (`{"Index": N, "Events": [...]}`), and `{}` as a heartbeat
//! every ten seconds. `topic=Topic[:key]` (repeatable) filters, `index=N` resumes after N,
//! `namespace` (default "default", "*" for all) narrows.

use super::{HttpError, HttpState};
use crate::state::events::StoredBatch;
use crate::state::StateStore;
use api::event::{EventBatch, TopicFilter};
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::time::Duration;

const HEARTBEAT: Duration = Duration::from_secs(10);
/// About how many bytes of events one write carries.
const CHUNK: usize = 256 * 1024;

/// What one subscriber asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub filters: Vec<TopicFilter>,
    /// Events after this index.
    pub index: u64,
    pub namespace: String,
}

/// A stream query the agent cannot serve; the message names the parameter to fix.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    #[error(transparent)]
    Topic(#[from] api::event::UnknownTopic),
    #[error("index must be a number, not {0:?}")]
    Index(String),
}

impl Subscription {
    pub fn parse(pairs: &[(String, String)]) -> Result<Subscription, SubscriptionError> {
        let mut sub = Subscription {
            filters: Vec::new(),
            index: 0,
            namespace: "default".into(),
        };
        for (k, v) in pairs {
            match k.as_str() {
                "topic" => sub.filters.push(TopicFilter::parse(v)?),
                "index" => {
                    sub.index = v.parse().map_err(|_| SubscriptionError::Index(v.clone()))?
                }
                "namespace" if !v.is_empty() => sub.namespace = v.clone(),
                _ => {}
            }
        }
        if sub.filters.is_empty() {
            sub.filters.push(TopicFilter {
                topic: "*".into(),
                key: None,
            });
        }
        Ok(sub)
    }

    /// The wire batch of `b`'s wanted events, if any.
    fn batch(&self, b: &StoredBatch) -> Option<EventBatch> {
        let events: Vec<_> = b
            .events
            .iter()
            .filter(|e| e.wanted(&self.filters, &self.namespace))
            .map(|e| e.to_wire(b.index))
            .collect();
        (!events.is_empty()).then_some(EventBatch {
            index: b.index,
            events,
        })
    }
}

/// The next chunk of the stream: the wanted batches after `sub.index` as lines, or a heartbeat
/// when nothing came for a while.
async fn next_chunk(state: &StateStore, sub: &mut Subscription) -> Bytes {
    let deadline = tokio::time::Instant::now() + HEARTBEAT;
    loop {
        let applied = state.index();
        let mut out = Vec::new();
        for b in state.events.after(sub.index) {
            if let Some(batch) = sub.batch(&b) {
                // Serializing our own types cannot fail; skip the batch rather than panic.
                if serde_json::to_writer(&mut out, &batch).is_ok() {
                    out.push(b'\n');
                }
            }
            sub.index = sub.index.max(b.index);
            // A long backlog goes out in pieces.
            if out.len() >= CHUNK {
                break;
            }
        }
        if !out.is_empty() {
            return Bytes::from(out);
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() || !state.wait_for_index(applied + 1, left).await {
            return Bytes::from_static(b"{}\n");
        }
    }
}

pub async fn stream(
    State(st): State<HttpState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, HttpError> {
    let state = st.server()?.state.clone();
    let sub = Subscription::parse(&pairs).map_err(|e| HttpError::bad_request(e.to_string()))?;
    let body = futures::stream::unfold((state, sub), |(state, mut sub)| async move {
        let chunk = next_chunk(&state, &mut sub).await;
        Some((Ok::<Bytes, std::io::Error>(chunk), (state, sub)))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Command;
    use std::sync::Arc;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn topics_index_and_namespace_are_parsed_with_clear_errors() {
        let sub = Subscription::parse(&pairs(&[
            ("topic", "Job:web"),
            ("topic", "Allocation"),
            ("index", "42"),
        ]))
        .unwrap();
        assert_eq!(sub.filters.len(), 2);
        assert_eq!((sub.index, sub.namespace.as_str()), (42, "default"));
        assert_eq!(Subscription::parse(&[]).unwrap().filters[0].topic, "*");
        let err = Subscription::parse(&pairs(&[("index", "soon")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("index must be a number"), "{err}");
        assert!(Subscription::parse(&pairs(&[("topic", "Nope")])).is_err());
    }

    #[tokio::test]
    async fn a_subscriber_gets_the_wanted_batches_then_waits_for_more() {
        let state = StateStore::default();
        let job = |id: &str| api::Job {
            id: id.into(),
            namespace: "default".into(),
            job_type: api::JOB_TYPE_SERVICE.into(),
            ..Default::default()
        };
        for (i, id) in ["web", "api"].iter().enumerate() {
            state.apply(
                i as u64 + 1,
                &Command::JobRegister {
                    job: Box::new(job(id)),
                    eval: None,
                    now: 0,
                },
            );
        }
        let mut sub = Subscription::parse(&pairs(&[("topic", "Job:api")])).unwrap();
        let chunk = next_chunk(&state, &mut sub).await;
        let batch: EventBatch = serde_json::from_slice(&chunk).unwrap();
        assert_eq!(batch.index, 2);
        assert_eq!(batch.events[0].event_type, "JobRegistered");
        assert_eq!(sub.index, 2);
        // Nothing new yet: the next chunk comes with the next wanted change.
        let state = Arc::new(state);
        let waiter = {
            let state = state.clone();
            tokio::spawn(async move { next_chunk(&state, &mut sub).await })
        };
        let mut stopped = job("api");
        stopped.stop = true;
        state.apply(
            3,
            &Command::JobRegister {
                job: Box::new(stopped),
                eval: None,
                now: 0,
            },
        );
        let chunk = waiter.await.unwrap();
        let batch: EventBatch = serde_json::from_slice(&chunk).unwrap();
        assert_eq!(batch.index, 3);
    }

    #[tokio::test]
    async fn node_pools_have_their_topic() {
        // Scenario: a pool applied by an operator and one created by a registering node both
        // reach a NodePool subscriber; deleting the first does too.
        let state = StateStore::default();
        let pool = api::node_pool::NodePool {
            name: "batch".into(),
            ..Default::default()
        };
        state.apply(1, &Command::NodePoolUpsert { pools: vec![pool] });
        let node = api::Node {
            id: "n1".into(),
            node_pool: "gpu".into(),
            ..Default::default()
        };
        state.apply(
            2,
            &Command::NodeRegister {
                node: Box::new(node),
                evals: vec![],
                now: 0,
                secret_hash: String::new(),
            },
        );
        state.apply(
            3,
            &Command::NodePoolDelete {
                names: vec!["batch".into()],
            },
        );
        let mut sub = Subscription::parse(&pairs(&[("topic", "NodePool")])).unwrap();
        let mut seen = Vec::new();
        while seen.len() < 3 {
            let chunk = next_chunk(&state, &mut sub).await;
            // Newline-delimited: a chunk may carry several batches.
            for line in chunk.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let batch: EventBatch = serde_json::from_slice(line).unwrap();
                for e in batch.events {
                    seen.push((e.event_type, e.key));
                }
            }
        }
        let want = [
            ("NodePoolUpserted", "batch"),
            ("NodePoolUpserted", "gpu"),
            ("NodePoolDeleted", "batch"),
        ];
        let got: Vec<(&str, &str)> = seen.iter().map(|(t, k)| (t.as_str(), k.as_str())).collect();
        assert_eq!(got, want);
    }
}
