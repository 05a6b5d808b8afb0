//! Clients' allocation reports, committed together (on the leader).
//!
//! Every client reports its allocations' status as they change. One raft entry per report would
//! make a fleet of thousands of clients, each reporting a few allocations, write thousands of
//! small entries a second. As the plan applier does with plans, a report joins a queue and its
//! caller takes the committer's lock; whoever holds the lock commits everything queued as one
//! entry (up to [`MAX_UPDATES_PER_ENTRY`]). An idle cluster commits a report at once; a busy one
//! gathers the reports that arrive while the previous entry commits.

use super::{endpoints::ServerError, now_nanos, Server};
use crate::state::Command;
use api::{AllocClientUpdate, Evaluation};
use std::sync::{Mutex, MutexGuard};
use tokio::sync::oneshot;

/// Allocation updates per raft entry at most (a report is never split).
const MAX_UPDATES_PER_ENTRY: usize = 2000;

/// Reports waiting to be committed, oldest first, and the lock of whoever commits them.
#[derive(Default)]
pub(super) struct AllocUpdateQueue {
    waiting: Mutex<Vec<Waiting>>,
    committer: tokio::sync::Mutex<()>,
}

/// One client's report, with the evaluations it calls for.
pub(super) struct QueuedReport {
    pub updates: Vec<AllocClientUpdate>,
    pub evals: Vec<Evaluation>,
    /// An allocation in it became terminal: capacity was freed.
    pub freed: bool,
}

struct Waiting {
    report: QueuedReport,
    reply: oneshot::Sender<Result<u64, ServerError>>,
}

impl AllocUpdateQueue {
    fn lock(&self) -> MutexGuard<'_, Vec<Waiting>> {
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The oldest reports, up to one entry's worth (at least one report).
    fn take_batch(queue: &mut Vec<Waiting>) -> Vec<Waiting> {
        let mut n = 0;
        let mut updates = 0;
        for w in queue.iter() {
            if n > 0 && updates + w.report.updates.len() > MAX_UPDATES_PER_ENTRY {
                break;
            }
            updates += w.report.updates.len();
            n += 1;
        }
        queue.drain(..n).collect()
    }
}

impl Server {
    /// Commits `report` with whatever else is queued, and returns the index of the entry that
    /// holds it.
    pub(super) async fn commit_alloc_report(
        &self,
        report: QueuedReport,
    ) -> Result<u64, ServerError> {
        let (reply, mut answer) = oneshot::channel();
        self.alloc_updates.lock().push(Waiting { report, reply });
        let serial = self.alloc_updates.committer.lock().await;
        let mut freed_at = None;
        let result = loop {
            match answer.try_recv() {
                // An earlier holder of the lock committed this report with its batch.
                Ok(result) => break result,
                Err(oneshot::error::TryRecvError::Closed) => {
                    break Err(ServerError::Unavailable("the report was dropped".into()))
                }
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            let batch = AllocUpdateQueue::take_batch(&mut self.alloc_updates.lock());
            if let Some(index) = self.commit_reports(batch).await {
                freed_at = Some(index);
            }
        };
        // As the plan applier does: the next batch need not wait for the blocked evaluations.
        drop(serial);
        if let Some(index) = freed_at {
            self.unblock(index).await;
        }
        result
    }

    /// Commits one batch and answers each report's caller; returns the entry's index when it
    /// freed capacity, which may unblock waiting evaluations.
    async fn commit_reports(&self, batch: Vec<Waiting>) -> Option<u64> {
        let mut updates = Vec::new();
        let mut evals: Vec<Evaluation> = Vec::new();
        let mut freed = false;
        let mut replies = Vec::with_capacity(batch.len());
        for w in batch {
            updates.extend(w.report.updates);
            for e in w.report.evals {
                // Two reports of one batch may each call for the job's evaluation: one will do.
                if !evals
                    .iter()
                    .any(|o| o.job_id == e.job_id && o.namespace == e.namespace)
                {
                    evals.push(e);
                }
            }
            freed |= w.report.freed;
            replies.push(w.reply);
        }
        let result = self
            .raft
            .apply(Command::AllocClientUpdate {
                updates,
                evals,
                now: now_nanos(),
            })
            .await
            .map_err(ServerError::Raft);
        let index = match result {
            Ok((index, res)) => {
                self.enqueue_evals(&res.evals);
                Ok(index)
            }
            Err(e) => Err(e),
        };
        for reply in replies {
            // A caller that gave up no longer listens.
            let _ = reply.send(index.clone());
        }
        index.ok().filter(|_| freed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(updates: usize) -> Waiting {
        let (reply, _) = oneshot::channel();
        Waiting {
            report: QueuedReport {
                updates: vec![AllocClientUpdate::default(); updates],
                evals: Vec::new(),
                freed: false,
            },
            reply,
        }
    }

    #[test]
    fn queued_reports_commit_together_up_to_one_entrys_worth() {
        // Scenario: 1,500 reports of one update each and one huge report wait; the first entry
        // takes the first 2,000 updates' worth, never splitting a report, and a report bigger
        // than an entry still goes alone.
        let mut queue: Vec<Waiting> = (0..1500).map(|_| waiting(1)).collect();
        queue.push(waiting(MAX_UPDATES_PER_ENTRY * 2));
        queue.push(waiting(1));
        let first = AllocUpdateQueue::take_batch(&mut queue);
        assert_eq!(first.len(), 1500);
        let second = AllocUpdateQueue::take_batch(&mut queue);
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].report.updates.len(), MAX_UPDATES_PER_ENTRY * 2);
        assert_eq!(AllocUpdateQueue::take_batch(&mut queue).len(), 1);
        assert!(AllocUpdateQueue::take_batch(&mut queue).is_empty());
    }
}
