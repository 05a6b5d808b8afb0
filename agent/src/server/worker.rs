//! Scheduler workers: take an evaluation from the broker, run the pure scheduler on a snapshot,
//! submit the plan, retry on a newer snapshot when the plan applier refused part of it, then
//! record the evaluation's outcome.

use super::{now_nanos, Server};
use crate::scheduler::{self, SchedulerContext, SchedulerOutcome};
use api::*;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Attempts at a plan before the evaluation's outcome is recorded as it stands.
const MAX_PLAN_ATTEMPTS: u32 = 5;

/// How long one evaluation may schedule before it fails with the reason (see
/// `SchedulerContext::deadline`).
const SCHEDULING_BUDGET: Duration = Duration::from_secs(60);

/// Runs until `stop` (the end of this leadership term) turns true.
pub(super) async fn run(server: Arc<Server>, worker_id: usize, mut stop: watch::Receiver<bool>) {
    loop {
        let eval = tokio::select! {
            e = server.broker.dequeue(Duration::from_secs(1)) => e,
            _ = stop.changed() => return,
        };
        let Some(eval) = eval else { continue };
        if *stop.borrow() {
            return;
        }
        tracing::debug!(worker_id, eval_id = %eval.id, job_id = %eval.job_id, "worker: evaluating");
        server.process_eval(&eval).await;
        server.broker.ack(&eval);
    }
}

fn seed_for(eval_id: &str, attempt: u32) -> u64 {
    let mut h = DefaultHasher::new();
    eval_id.hash(&mut h);
    attempt.hash(&mut h);
    h.finish()
}

impl Server {
    async fn process_eval(self: &Arc<Self>, eval: &Evaluation) {
        // The scheduler must see at least the state the evaluation was created in.
        self.state
            .wait_for_index(eval.modify_index, Duration::from_secs(5))
            .await;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let snap = self.state.snapshot();
            let snapshot_index = snap.index;
            let ctx = SchedulerContext {
                deadline: Some(std::time::Instant::now() + SCHEDULING_BUDGET),
                ..SchedulerContext::new(now_nanos(), seed_for(&eval.id, attempt))
            };
            // Never on the runtime's worker threads: a big placement would starve the raft
            // heartbeats and the rpc port that share them. The snapshot goes with the closure,
            // so it is not held across the plan's commit (see `StateStore::read`).
            let e = eval.clone();
            let outcome =
                tokio::task::spawn_blocking(move || scheduler::schedule(&e, &snap, &ctx)).await;
            let outcome = match outcome {
                Ok(o) => o,
                Err(join_err) => {
                    tracing::error!(eval_id = %eval.id, %join_err, "scheduler crashed");
                    let mut failed = eval.clone();
                    failed.status = EVAL_STATUS_FAILED.into();
                    failed.status_description = format!("scheduler failed: {join_err}");
                    let _ = self.commit_evals(vec![failed]).await;
                    return;
                }
            };
            let last = attempt >= MAX_PLAN_ATTEMPTS;
            let evals = self.outcome_evals(eval, &outcome, snapshot_index);
            match self.apply_plan(outcome.plan, evals.clone(), last).await {
                Ok(res) if res.rejected_nodes == 0 || last => {
                    self.after_eval(evals).await;
                    return;
                }
                Ok(res) => {
                    tracing::debug!(eval_id = %eval.id, rejected = res.rejected_nodes, "plan partly refused; retrying");
                    self.state
                        .wait_for_index(res.index, Duration::from_secs(5))
                        .await;
                }
                Err(e) => {
                    tracing::error!(eval_id = %eval.id, %e, "plan apply failed");
                    if last {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                }
            }
        }
    }

    /// The evaluations to commit with the plan: this one's new state, and its blocked or
    /// follow-up evaluations. A blocked evaluation that still cannot place is re-blocked rather
    /// than replaced by a new one, so a waiting job keeps one evaluation.
    fn outcome_evals(
        &self,
        eval: &Evaluation,
        outcome: &SchedulerOutcome,
        snapshot_index: u64,
    ) -> Vec<Evaluation> {
        let mut this = outcome.eval.clone();
        this.snapshot_index = snapshot_index;
        this.modify_time = now_nanos();
        let mut out = Vec::new();
        match &outcome.blocked_eval {
            Some(_) if eval.triggered_by == TRIGGER_QUEUED_ALLOCS => {
                this.status = EVAL_STATUS_BLOCKED.into();
                this.blocked_eval = String::new();
                out.push(this);
            }
            Some(b) => {
                let mut b = b.clone();
                b.snapshot_index = snapshot_index;
                b.create_time = now_nanos();
                b.modify_time = b.create_time;
                out.push(this);
                out.push(b);
            }
            None => out.push(this),
        }
        for f in &outcome.followup_evals {
            let mut f = f.clone();
            f.create_time = now_nanos();
            f.modify_time = f.create_time;
            out.push(f);
        }
        out
    }

    async fn after_eval(&self, evals: Vec<Evaluation>) {
        for e in evals {
            match e.status.as_str() {
                EVAL_STATUS_BLOCKED => self.block_eval(e).await,
                EVAL_STATUS_PENDING => self.broker.enqueue(e, now_nanos()),
                _ => {}
            }
        }
    }
}
