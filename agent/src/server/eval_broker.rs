//! The evaluation broker (leader only, in memory, rebuilt from the state on election): hands
//! evaluations to scheduler workers by priority, at most one outstanding per job so two workers
//! never schedule the same job at once, and holds delayed evaluations until their time.

use crate::state::JobKey;
use api::Evaluation;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Notify;

struct Ready(Evaluation);

impl Ord for Ready {
    fn cmp(&self, other: &Self) -> Ordering {
        // Higher priority first, then older (lower create index) first.
        self.0
            .priority
            .cmp(&other.0.priority)
            .then_with(|| other.0.create_index.cmp(&self.0.create_index))
    }
}
impl PartialOrd for Ready {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Ready {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id
    }
}
impl Eq for Ready {}

#[derive(Default)]
struct Inner {
    enabled: bool,
    ready: BinaryHeap<Ready>,
    /// Jobs with an evaluation handed out and not yet acknowledged.
    inflight: HashMap<JobKey, String>,
    /// Evaluations waiting for their job's in-flight evaluation to finish.
    waiting: HashMap<JobKey, VecDeque<Evaluation>>,
    /// wait_until (unix nanos) -> evaluations not to run before then.
    delayed: BTreeMap<(i64, String), Evaluation>,
    /// Every evaluation id the broker knows, so an eval is never queued twice.
    known: HashMap<String, JobKey>,
}

#[derive(Default)]
pub struct EvalBroker {
    inner: Mutex<Inner>,
    notify: Notify,
}

fn key(e: &Evaluation) -> JobKey {
    (e.namespace.clone(), e.job_id.clone())
}

impl EvalBroker {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Leadership gained or lost: a disabled broker drops everything it held.
    pub fn set_enabled(&self, enabled: bool) {
        let mut g = self.lock();
        g.enabled = enabled;
        if !enabled {
            *g = Inner::default();
        }
        drop(g);
        self.notify.notify_waiters();
    }

    pub fn enqueue(&self, eval: Evaluation, now: i64) {
        let mut g = self.lock();
        if !g.enabled || g.known.contains_key(&eval.id) {
            return;
        }
        g.known.insert(eval.id.clone(), key(&eval));
        if eval.wait_until > now {
            g.delayed.insert((eval.wait_until, eval.id.clone()), eval);
        } else {
            Self::make_ready(&mut g, eval);
        }
        drop(g);
        self.notify.notify_one();
    }

    fn make_ready(g: &mut Inner, eval: Evaluation) {
        let k = key(&eval);
        if g.inflight.contains_key(&k) {
            g.waiting.entry(k).or_default().push_back(eval);
        } else {
            g.ready.push(Ready(eval));
        }
    }

    /// Moves delayed evaluations whose time has come to the ready queue. Returns when the next
    /// one is due, if any.
    pub fn promote_delayed(&self, now: i64) -> Option<i64> {
        let mut g = self.lock();
        let mut promoted = false;
        while let Some(((at, _), _)) = g.delayed.first_key_value() {
            if *at > now {
                break;
            }
            if let Some((_, e)) = g.delayed.pop_first() {
                Self::make_ready(&mut g, e);
                promoted = true;
            }
        }
        let next = g.delayed.first_key_value().map(|((at, _), _)| *at);
        drop(g);
        if promoted {
            self.notify.notify_waiters();
        }
        next
    }

    /// Waits up to `wait` for a ready evaluation, and marks its job in flight.
    pub async fn dequeue(&self, wait: Duration) -> Option<Evaluation> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.notify.notified();
            {
                let mut g = self.lock();
                while let Some(Ready(e)) = g.ready.pop() {
                    let k = key(&e);
                    if g.inflight.contains_key(&k) {
                        g.waiting.entry(k).or_default().push_back(e);
                        continue;
                    }
                    g.inflight.insert(k, e.id.clone());
                    return Some(e);
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    /// The worker finished with an evaluation: the job's next waiting evaluation becomes ready.
    pub fn ack(&self, eval: &Evaluation) {
        let mut g = self.lock();
        let k = key(eval);
        g.known.remove(&eval.id);
        if g.inflight.get(&k) == Some(&eval.id) {
            g.inflight.remove(&k);
            let next = g.waiting.get_mut(&k).and_then(|q| q.pop_front());
            if g.waiting.get(&k).is_some_and(|q| q.is_empty()) {
                g.waiting.remove(&k);
            }
            if let Some(next) = next {
                g.ready.push(Ready(next));
            }
        }
        drop(g);
        self.notify.notify_one();
    }

    /// Ready + waiting + delayed + in flight, for metrics and tests.
    pub fn stats(&self) -> (usize, usize, usize, usize) {
        let g = self.lock();
        (
            g.ready.len(),
            g.waiting.values().map(|q| q.len()).sum(),
            g.delayed.len(),
            g.inflight.len(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: &str, job: &str, prio: i32, idx: u64) -> Evaluation {
        Evaluation {
            id: id.into(),
            namespace: "default".into(),
            job_id: job.into(),
            priority: prio,
            create_index: idx,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn priority_then_age_and_one_per_job() {
        // Scenario: three evals of two jobs; the higher priority comes first, and a second eval
        // of a job in flight waits until the first is acked.
        let b = EvalBroker::default();
        b.set_enabled(true);
        b.enqueue(ev("a1", "a", 50, 1), 0);
        b.enqueue(ev("b1", "b", 70, 2), 0);
        b.enqueue(ev("a2", "a", 50, 3), 0);
        let w = Duration::from_millis(10);
        let first = b.dequeue(w).await.unwrap();
        assert_eq!(first.id, "b1");
        let second = b.dequeue(w).await.unwrap();
        assert_eq!(second.id, "a1");
        assert!(b.dequeue(w).await.is_none(), "a2 must wait for a1");
        b.ack(&second);
        assert_eq!(b.dequeue(w).await.unwrap().id, "a2");
    }

    #[tokio::test]
    async fn delayed_evals_wait_for_their_time() {
        let b = EvalBroker::default();
        b.set_enabled(true);
        let mut e = ev("d", "j", 50, 1);
        e.wait_until = 100;
        b.enqueue(e, 50);
        assert!(b.dequeue(Duration::from_millis(5)).await.is_none());
        assert_eq!(b.promote_delayed(99), Some(100));
        assert_eq!(b.promote_delayed(100), None);
        assert_eq!(b.dequeue(Duration::from_millis(5)).await.unwrap().id, "d");
    }

    #[tokio::test]
    async fn disabled_broker_takes_nothing() {
        let b = EvalBroker::default();
        b.enqueue(ev("x", "j", 50, 1), 0);
        assert_eq!(b.stats(), (0, 0, 0, 0));
    }
}
