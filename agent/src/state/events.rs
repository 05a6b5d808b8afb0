//! The event stream's source: every applied command leaves the objects it changed in
//! `Tables::changes`; the store turns them into one [`EventBatch`] per raft index and keeps the
//! newest ones in a ring buffer that `/v1/event/stream` subscribers read and resume from.
//!
//! The buffer holds the changed objects by `Arc` (shared with the tables), and turns them into
//! wire events only when a subscriber reads them: applying a command stays cheap with nobody
//! listening.

use super::command::Command;
use api::event::*;
use api::{Allocation, Deployment, Evaluation, Job, Node, ServiceRegistration};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// What one write to the tables changed.
#[derive(Debug, Clone)]
pub enum Change {
    Job(Arc<Job>),
    JobPurged(Arc<Job>),
    Alloc(Arc<Allocation>),
    Eval(Arc<Evaluation>),
    Node(Arc<Node>),
    Deployment(Arc<Deployment>),
    Service(Arc<ServiceRegistration>),
    ServiceRemoved(Arc<ServiceRegistration>),
    NodePool(Arc<api::node_pool::NodePool>),
    NodePoolDeleted(Arc<api::node_pool::NodePool>),
}

/// One event, before it is put on the wire.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub event_type: &'static str,
    pub change: Change,
}

/// The events of one raft index.
#[derive(Debug)]
pub struct StoredBatch {
    pub index: u64,
    pub events: Vec<StoredEvent>,
}

/// Nomad's event type for a change made by `cmd`.
fn event_type(cmd: &Command, change: &Change) -> &'static str {
    match (change, cmd) {
        (Change::Job(j), _) if j.stop => "JobDeregistered",
        (Change::Job(_), _) => "JobRegistered",
        (Change::JobPurged(_), _) => "JobDeregistered",
        (Change::Alloc(_), Command::PlanApply { .. }) => "PlanResult",
        (Change::Alloc(_), Command::AllocStop { .. }) => "AllocationUpdateDesiredStatus",
        (Change::Alloc(_), _) => "AllocationUpdated",
        (Change::Eval(_), _) => "EvaluationUpdated",
        (Change::Node(_), Command::NodeRegister { .. }) => "NodeRegistration",
        (Change::Node(_), Command::NodeSchedulingUpdate { drain: Some(_), .. }) => "NodeDrain",
        (Change::Node(_), Command::NodeSchedulingUpdate { .. }) => "NodeEligibility",
        (Change::Node(_), _) => "NodeEvent",
        (Change::Deployment(_), Command::DeploymentPromote { .. }) => "DeploymentPromotion",
        (Change::Deployment(_), Command::AllocClientUpdate { .. }) => "DeploymentAllocHealth",
        (Change::Deployment(_), _) => "DeploymentStatusUpdate",
        (Change::Service(_), _) => "ServiceRegistration",
        (Change::ServiceRemoved(_), _) => "ServiceDeregistration",
        (Change::NodePool(_), _) => "NodePoolUpserted",
        (Change::NodePoolDeleted(_), _) => "NodePoolDeleted",
    }
}

impl StoredEvent {
    pub fn topic(&self) -> &'static str {
        match &self.change {
            Change::Job(_) | Change::JobPurged(_) => TOPIC_JOB,
            Change::Alloc(_) => TOPIC_ALLOCATION,
            Change::Eval(_) => TOPIC_EVALUATION,
            Change::Node(_) => TOPIC_NODE,
            Change::Deployment(_) => TOPIC_DEPLOYMENT,
            Change::Service(_) | Change::ServiceRemoved(_) => TOPIC_SERVICE,
            Change::NodePool(_) | Change::NodePoolDeleted(_) => TOPIC_NODE_POOL,
        }
    }

    /// (key, namespace, filter keys), as Nomad sets them per topic.
    fn keys(&self) -> (&str, &str, Vec<String>) {
        let nonempty = |keys: [&str; 2]| -> Vec<String> {
            keys.iter()
                .filter(|k| !k.is_empty())
                .map(|k| k.to_string())
                .collect()
        };
        match &self.change {
            Change::Job(j) | Change::JobPurged(j) => (&j.id, &j.namespace, Vec::new()),
            Change::Alloc(a) => (&a.id, &a.namespace, nonempty([&a.job_id, &a.deployment_id])),
            Change::Eval(e) => (&e.id, &e.namespace, nonempty([&e.job_id, &e.deployment_id])),
            Change::Node(n) => (&n.id, "", Vec::new()),
            Change::NodePool(p) | Change::NodePoolDeleted(p) => (&p.name, "", Vec::new()),
            Change::Deployment(d) => (&d.id, &d.namespace, vec![d.job_id.clone()]),
            Change::Service(s) | Change::ServiceRemoved(s) => (
                &s.service_name,
                &s.namespace,
                nonempty([&s.job_id, &s.alloc_id]),
            ),
        }
    }

    /// Whether a subscriber with these filters, in `namespace` ("*": all), wants it.
    pub fn wanted(&self, filters: &[TopicFilter], namespace: &str) -> bool {
        let (key, ns, filter_keys) = self.keys();
        let ns_ok = namespace == "*" || ns.is_empty() || ns == namespace;
        let topic = self.topic();
        ns_ok && filters.iter().any(|f| f.matches(topic, key, &filter_keys))
    }

    /// The wire event (allocations without their embedded job).
    pub fn to_wire(&self, index: u64) -> Event {
        let (key, ns, filter_keys) = self.keys();
        let payload = match &self.change {
            Change::Job(j) | Change::JobPurged(j) => EventPayload::Job(Box::new((**j).clone())),
            Change::Alloc(a) => EventPayload::Allocation(Box::new(a.stub())),
            Change::Eval(e) => EventPayload::Evaluation(Box::new((**e).clone())),
            Change::Node(n) => EventPayload::Node(Box::new((**n).clone())),
            Change::Deployment(d) => EventPayload::Deployment(Box::new((**d).clone())),
            Change::Service(s) | Change::ServiceRemoved(s) => {
                EventPayload::Service(Box::new((**s).clone()))
            }
            Change::NodePool(p) | Change::NodePoolDeleted(p) => {
                EventPayload::NodePool(Box::new((**p).clone()))
            }
        };
        Event {
            topic: self.topic().to_string(),
            event_type: self.event_type.to_string(),
            key: key.to_string(),
            namespace: ns.to_string(),
            filter_keys,
            index,
            payload,
        }
    }
}

/// The newest batches, oldest first, holding at most `capacity` events (whole batches).
pub struct EventBuffer {
    batches: Mutex<Buffered>,
    capacity: usize,
}

#[derive(Default)]
struct Buffered {
    batches: VecDeque<Arc<StoredBatch>>,
    events: usize,
}

/// How many events the buffer keeps. Each holds the changed object (an allocation carries its
/// job), so this bounds the memory the stream costs whether or not anyone listens.
pub const EVENT_BUFFER_EVENTS: usize = 1024;

impl EventBuffer {
    pub fn new(capacity: usize) -> EventBuffer {
        EventBuffer {
            batches: Mutex::new(Buffered::default()),
            capacity: capacity.max(1),
        }
    }

    /// Records what `cmd`, applied at `index`, changed.
    pub fn push(&self, index: u64, cmd: &Command, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        let events = changes
            .into_iter()
            .map(|change| StoredEvent {
                event_type: event_type(cmd, &change),
                change,
            })
            .collect();
        let batch = Arc::new(StoredBatch { index, events });
        let Ok(mut b) = self.batches.lock() else {
            return;
        };
        b.events += batch.events.len();
        b.batches.push_back(batch);
        // The newest batch stays even when it alone is over capacity.
        while b.events > self.capacity && b.batches.len() > 1 {
            if let Some(old) = b.batches.pop_front() {
                b.events -= old.events.len();
            }
        }
    }

    /// The batches after `index`, oldest first (from the oldest kept when `index` is older).
    pub fn after(&self, index: u64) -> Vec<Arc<StoredBatch>> {
        let Ok(b) = self.batches.lock() else {
            return Vec::new();
        };
        let start = b.batches.partition_point(|batch| batch.index <= index);
        b.batches.range(start..).cloned().collect()
    }

    /// A snapshot restore replaces the state: earlier events no longer follow from it.
    pub fn clear(&self) {
        if let Ok(mut b) = self.batches.lock() {
            *b = Buffered::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str) -> Arc<Job> {
        Arc::new(Job {
            id: id.into(),
            namespace: "default".into(),
            ..Default::default()
        })
    }

    fn register(j: &Arc<Job>) -> Command {
        Command::JobRegister {
            job: Box::new((**j).clone()),
            eval: None,
            now: 0,
        }
    }

    #[test]
    fn resumes_after_an_index_and_forgets_the_oldest() {
        let buf = EventBuffer::new(3);
        for i in 1..=5 {
            let j = job(&format!("j{i}"));
            buf.push(i, &register(&j), vec![Change::Job(j.clone())]);
        }
        let idx = |v: Vec<Arc<StoredBatch>>| v.iter().map(|b| b.index).collect::<Vec<_>>();
        assert_eq!(idx(buf.after(0)), [3, 4, 5]);
        assert_eq!(idx(buf.after(3)), [4, 5]);
        assert!(buf.after(5).is_empty());
        let e = &buf.after(4)[0].events[0];
        assert_eq!(e.event_type, "JobRegistered");
        let wire = e.to_wire(5);
        assert_eq!((wire.key.as_str(), wire.index), ("j5", 5));
    }

    #[test]
    fn filters_by_topic_key_filter_key_and_namespace() {
        let alloc = Arc::new(Allocation {
            id: "a1".into(),
            namespace: "default".into(),
            job_id: "web".into(),
            deployment_id: "d1".into(),
            ..Default::default()
        });
        let e = StoredEvent {
            event_type: "PlanResult",
            change: Change::Alloc(alloc),
        };
        let f = |s: &str| vec![TopicFilter::parse(s).unwrap()];
        assert!(e.wanted(&f("Allocation:web"), "default"));
        assert!(e.wanted(&f("Allocation:d1"), "default"));
        assert!(e.wanted(&f("*"), "*"));
        assert!(!e.wanted(&f("Allocation:api"), "default"));
        assert!(!e.wanted(&f("Job"), "default"));
        assert!(!e.wanted(&f("Allocation"), "other"));
    }
}
