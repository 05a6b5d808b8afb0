//! What happens to a group's allocations while their node is cut off from the servers: the
//! `disconnect` block, and the older `max_client_disconnect` that means the same as
//! `disconnect { lost_after = ...  replace = true }`.
//!
//! A node that misses its heartbeats while it runs such allocations is `disconnected` rather than
//! `down`. Its allocations turn `unknown`, and keep running there; with `replace` a copy starts
//! elsewhere. When the node comes back within `lost_after`, `reconcile` picks which copy stays.
//! Past `lost_after` the allocations are `lost`, as on a down node.

use crate::duration::nanos;
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub const RECONCILE_BEST_SCORE: &str = "best_score";
pub const RECONCILE_KEEP_ORIGINAL: &str = "keep_original";
pub const RECONCILE_KEEP_REPLACEMENT: &str = "keep_replacement";
pub const RECONCILE_LONGEST_RUNNING: &str = "longest_running";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DisconnectStrategy {
    /// How long after the node is disconnected its allocations become lost; zero: at once.
    #[serde(with = "nanos", default)]
    pub lost_after: Duration,
    /// Whether a copy starts elsewhere while the node is disconnected (Nomad's default: true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace: Option<bool>,
    /// Which copy stays when the node comes back: `best_score` (default), `keep_original`,
    /// `keep_replacement` or `longest_running`.
    #[serde(default)]
    pub reconcile: String,
    /// The client stopping its allocations by itself: refused (see [`DisconnectStrategy::problems`]).
    #[serde(with = "nanos", default)]
    pub stop_on_client_after: Duration,
}

/// A group's disconnect rules, resolved from either form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disconnect<'a> {
    /// Nanoseconds.
    pub lost_after: i64,
    pub replace: bool,
    pub reconcile: &'a str,
}

impl DisconnectStrategy {
    pub fn problems(&self, group: &str) -> Vec<String> {
        let mut errs = Vec::new();
        let known = [
            RECONCILE_BEST_SCORE,
            RECONCILE_KEEP_ORIGINAL,
            RECONCILE_KEEP_REPLACEMENT,
            RECONCILE_LONGEST_RUNNING,
        ];
        if !self.reconcile.is_empty() && !known.contains(&self.reconcile.as_str()) {
            errs.push(format!(
                "group {group:?}: disconnect reconcile {:?} must be one of {}",
                self.reconcile,
                known.join(", ")
            ));
        }
        if !self.stop_on_client_after.is_zero() {
            errs.push(format!(
                "group {group:?}: disconnect stop_on_client_after is not supported (clients keep \
                 their allocations running while disconnected)"
            ));
        }
        errs
    }

    pub fn replace(&self) -> bool {
        self.replace.unwrap_or(true)
    }
}

impl super::TaskGroup {
    /// The group's disconnect rules, when it has any: `disconnect` wins over
    /// `max_client_disconnect`. None: allocations on a node that misses heartbeats are lost.
    pub fn disconnect_rules(&self) -> Option<Disconnect<'_>> {
        let nanos = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        match (&self.disconnect, self.max_client_disconnect) {
            (Some(d), _) if !d.lost_after.is_zero() => Some(Disconnect {
                lost_after: nanos(d.lost_after),
                replace: d.replace(),
                reconcile: if d.reconcile.is_empty() {
                    RECONCILE_BEST_SCORE
                } else {
                    &d.reconcile
                },
            }),
            (Some(_), _) => None,
            (None, Some(m)) if !m.is_zero() => Some(Disconnect {
                lost_after: nanos(m),
                replace: true,
                reconcile: RECONCILE_BEST_SCORE,
            }),
            (None, _) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TaskGroup;

    #[test]
    fn both_forms_resolve_and_bad_values_are_named() {
        let mut tg = TaskGroup::default();
        assert!(tg.disconnect_rules().is_none());
        tg.max_client_disconnect = Some(Duration::from_secs(60));
        let r = tg.disconnect_rules().unwrap();
        assert_eq!(
            (r.lost_after, r.replace, r.reconcile),
            (60_000_000_000, true, "best_score")
        );
        tg.disconnect = Some(DisconnectStrategy {
            lost_after: Duration::from_secs(5),
            replace: Some(false),
            reconcile: "keep_original".into(),
            ..Default::default()
        });
        let r = tg.disconnect_rules().unwrap();
        assert_eq!(
            (r.lost_after, r.replace, r.reconcile),
            (5_000_000_000, false, "keep_original")
        );

        let bad = DisconnectStrategy {
            reconcile: "newest".into(),
            stop_on_client_after: Duration::from_secs(1),
            ..Default::default()
        };
        let errs = bad.problems("g");
        assert!(errs[0].contains("must be one of"), "{errs:?}");
        assert!(
            errs[1].contains("stop_on_client_after is not supported"),
            "{errs:?}"
        );
    }
}
