//! The event stream's wire shape (`GET /v1/event/stream`): newline-delimited JSON, one
//! [`EventBatch`] per applied change (or `{}` as a heartbeat), each event with its topic, type,
//! key and the object it is about.

use crate::node_pool::NodePool;
use crate::{Allocation, Deployment, Evaluation, Job, Node, ServiceRegistration};
use serde::{Deserialize, Serialize};

pub const TOPIC_JOB: &str = "Job";
pub const TOPIC_ALLOCATION: &str = "Allocation";
pub const TOPIC_EVALUATION: &str = "Evaluation";
pub const TOPIC_DEPLOYMENT: &str = "Deployment";
pub const TOPIC_NODE: &str = "Node";
pub const TOPIC_SERVICE: &str = "Service";
pub const TOPIC_NODE_POOL: &str = "NodePool";
/// The topics this agent publishes.
pub const TOPICS: [&str; 7] = [
    TOPIC_JOB,
    TOPIC_ALLOCATION,
    TOPIC_EVALUATION,
    TOPIC_DEPLOYMENT,
    TOPIC_NODE,
    TOPIC_NODE_POOL,
    TOPIC_SERVICE,
];

/// The events of one raft index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventBatch {
    pub index: u64,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Event {
    pub topic: String,
    #[serde(rename = "Type")]
    pub event_type: String,
    /// What the event is about: a job, allocation, evaluation, deployment or node id, or a
    /// service name.
    pub key: String,
    #[serde(default)]
    pub namespace: String,
    /// Other keys a `topic=Topic:key` filter matches (an allocation's job and deployment).
    #[serde(default)]
    pub filter_keys: Vec<String>,
    pub index: u64,
    pub payload: EventPayload,
}

/// `{"Job": {...}}`, `{"Allocation": {...}}`, ...
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EventPayload {
    Job(Box<Job>),
    /// Without its embedded job, as list endpoints return allocations.
    Allocation(Box<Allocation>),
    Evaluation(Box<Evaluation>),
    Deployment(Box<Deployment>),
    Node(Box<Node>),
    NodePool(Box<NodePool>),
    Service(Box<ServiceRegistration>),
}

/// One `topic` query parameter: `Job`, `Job:*` or `Job:hello` (`*` for every topic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicFilter {
    pub topic: String,
    /// None: every key.
    pub key: Option<String>,
}

/// A `topic` parameter naming a topic this agent does not publish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event topic {topic:?}: use one of {} or *", TOPICS.join(", "))]
pub struct UnknownTopic {
    pub topic: String,
}

impl TopicFilter {
    /// Parses `Topic[:key]`; an unknown topic is an error that lists the known ones.
    pub fn parse(s: &str) -> Result<TopicFilter, UnknownTopic> {
        let (topic, key) = match s.split_once(':') {
            Some((t, k)) => (t, Some(k)),
            None => (s, None),
        };
        if topic != "*" && !TOPICS.contains(&topic) {
            return Err(UnknownTopic {
                topic: topic.to_string(),
            });
        }
        let key = key.filter(|k| *k != "*" && !k.is_empty());
        Ok(TopicFilter {
            topic: topic.to_string(),
            key: key.map(str::to_string),
        })
    }

    /// Whether an event of `topic` about `key` (or one of `filter_keys`) passes.
    pub fn matches(&self, topic: &str, key: &str, filter_keys: &[String]) -> bool {
        (self.topic == "*" || self.topic == topic)
            && self
                .key
                .as_ref()
                .is_none_or(|k| k == key || filter_keys.contains(k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(f: &TopicFilter, e: &Event) -> bool {
        f.matches(&e.topic, &e.key, &e.filter_keys)
    }

    fn event(topic: &str, key: &str, filter_keys: &[&str]) -> Event {
        Event {
            topic: topic.into(),
            event_type: "X".into(),
            key: key.into(),
            namespace: "default".into(),
            filter_keys: filter_keys.iter().map(|s| s.to_string()).collect(),
            index: 1,
            payload: EventPayload::Job(Box::default()),
        }
    }

    #[test]
    fn topic_filters_match_the_key_or_a_filter_key() {
        let f = TopicFilter::parse("Allocation:web").unwrap();
        assert!(matches(&f, &event("Allocation", "a1", &["web", "d1"])));
        assert!(!matches(&f, &event("Allocation", "a1", &["api"])));
        assert!(!matches(&f, &event("Job", "web", &[])));
        for all in ["Job", "Job:*"] {
            assert!(matches(
                &TopicFilter::parse(all).unwrap(),
                &event("Job", "x", &[])
            ));
        }
        assert!(matches(
            &TopicFilter::parse("*").unwrap(),
            &event("Node", "n", &[])
        ));
        let err = TopicFilter::parse("Jobs:web").unwrap_err().to_string();
        assert!(
            err.contains("\"Jobs\"") && err.contains("Deployment"),
            "{err}"
        );
    }

    #[test]
    fn payloads_are_wrapped_in_their_kind() {
        let v = serde_json::to_value(event("Job", "web", &[])).unwrap();
        assert!(v["Payload"]["Job"].is_object(), "{v}");
        assert_eq!(v["Type"], "X");
        assert_eq!(v["FilterKeys"], serde_json::json!([]));
    }
}
