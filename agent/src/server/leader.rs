//! Leader duties: what the leader runs and rebuilds from the state when it gains leadership, and
//! drops when it loses it.

use super::blocked_evals::BlockOutcome;
use super::{now_nanos, worker, Server};
use crate::state::Command;
use api::*;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long a new leader waits before retrying when it could not yet confirm its leadership.
const BARRIER_RETRY: Duration = Duration::from_millis(200);

/// Scheduler workers per core when `num_schedulers` is not set.
const WORKERS_PER_CORE: usize = 4;

impl Server {
    /// Follows raft's leadership: gaining it starts the leader duties, losing it (or shutting
    /// down) stops them. Each term of leadership has its own stop signal, so duties of an old
    /// term never outlive it.
    pub(super) async fn leadership_loop(self: Arc<Self>) {
        let mut view = self.raft.subscribe();
        let mut shutdown = self.shutdown_rx();
        let mut term: Option<watch::Sender<bool>> = None;
        loop {
            let leading = view.borrow_and_update().is_leader;
            if leading && term.is_none() {
                // Everything earlier leaders committed must be applied here before this server
                // rebuilds the broker and blocked evaluations from the state.
                match self.raft.read_barrier().await {
                    Ok(()) => {
                        let (stop, stop_rx) = watch::channel(false);
                        tracing::info!("cluster leadership acquired");
                        self.clone().establish_leadership(stop_rx);
                        term = Some(stop);
                    }
                    Err(e) => {
                        tracing::warn!(%e, "leadership not confirmed yet; retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(BARRIER_RETRY) => {}
                            _ = shutdown.changed() => return,
                        }
                        continue;
                    }
                }
            } else if !leading {
                if let Some(stop) = term.take() {
                    tracing::info!("cluster leadership lost");
                    stop.send_replace(true);
                    self.revoke_leadership();
                }
            }
            tokio::select! {
                r = view.changed() => if r.is_err() { return },
                _ = shutdown.changed() => {
                    if let Some(stop) = term.take() {
                        stop.send_replace(true);
                    }
                    return;
                }
            }
        }
    }

    /// Drops what only the leader holds in memory; the next leader rebuilds it from the state.
    pub(super) fn revoke_leadership(&self) {
        self.broker.set_enabled(false);
        self.blocked.set_enabled(false);
        self.heartbeats.clear();
        self.var_locks.clear();
    }

    fn establish_leadership(self: Arc<Self>, stop: watch::Receiver<bool>) {
        self.broker.set_enabled(true);
        self.blocked.set_enabled(true);
        let snap = self.state.snapshot();
        // Evaluations that were pending or blocked when the last leader stopped run again.
        let now = now_nanos();
        for e in snap.evals() {
            match e.status.as_str() {
                EVAL_STATUS_PENDING => self.broker.enqueue((**e).clone(), now),
                EVAL_STATUS_BLOCKED => {
                    let _ = self.blocked.block((**e).clone());
                }
                _ => {}
            }
        }
        // Every live node gets time to find this leader before it can be declared down; a
        // disconnected one keeps what is left of its lost_after, if that is longer.
        let wall = now_nanos();
        for n in snap.nodes() {
            if n.status == NODE_STATUS_DOWN {
                continue;
            }
            self.heartbeats.set_failover(&n.id);
            if n.status == NODE_STATUS_DISCONNECTED {
                let Some(window) = longest_lost_after(&snap, &n.id) else {
                    continue;
                };
                let since = n.status_updated_at.saturating_mul(1_000_000_000);
                let end =
                    since.saturating_add(i64::try_from(window.as_nanos()).unwrap_or(i64::MAX));
                let left = u64::try_from(end.saturating_sub(wall)).unwrap_or(0);
                let failover = self.heartbeats.failover_ttl();
                if Duration::from_nanos(left) > failover {
                    self.heartbeats
                        .set_deadline(&n.id, Instant::now() + Duration::from_nanos(left));
                }
            }
        }
        let workers = if self.cfg.num_workers == 0 {
            // A worker spends most of an evaluation waiting for its plan to commit, not
            // computing: several per core keep the cores busy and give the plan applier
            // batches to commit together.
            WORKERS_PER_CORE
                * std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
        } else {
            self.cfg.num_workers
        };
        for i in 0..workers {
            tokio::spawn(worker::run(self.clone(), i, stop.clone()));
        }
        tokio::spawn(self.clone().delayed_eval_loop(stop.clone()));
        tokio::spawn(self.clone().drain_deadline_loop(stop.clone()));
        tokio::spawn(self.clone().deployment_watcher(stop.clone()));
        tokio::spawn(self.clone().gc_loop(stop.clone()));
        tokio::spawn(self.clone().periodic_loop(stop.clone()));
        tokio::spawn(self.clone().variable_duties(stop.clone()));
        tokio::spawn(self.heartbeat_loop(stop));
    }

    /// Moves delayed evaluations (rescheduling backoff) into the ready queue when due.
    async fn delayed_eval_loop(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            let next = self.broker.promote_delayed(now_nanos());
            let sleep = match next {
                Some(at) => {
                    Duration::from_nanos((at - now_nanos()).clamp(1_000_000, 1_000_000_000) as u64)
                }
                None => Duration::from_millis(500),
            };
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// Past a drain's deadline, whatever still runs on the node is stopped; the schedulers place
    /// the replacements. Until then the drain moves work at the group's migrate pace.
    async fn drain_deadline_loop(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            let snap = self.state.snapshot();
            let now = now_nanos();
            let overdue = snap.nodes().filter(|n| {
                n.drain
                    && n.drain_strategy
                        .as_ref()
                        .is_some_and(|s| s.force_deadline > 0 && now >= s.force_deadline)
            });
            for node in overdue {
                for a in snap.allocs_for_node(&node.id) {
                    if a.terminal() || a.desired_status != ALLOC_DESIRED_RUN {
                        continue;
                    }
                    tracing::info!(alloc_id = %a.id, node = %node.name, "drain deadline reached: stopping");
                    if let Err(e) = self.alloc_stop(&a.id).await {
                        tracing::warn!(alloc_id = %a.id, %e, "stopping an allocation past its drain deadline");
                    }
                }
            }
        }
    }

    async fn heartbeat_loop(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            for node_id in self.heartbeats.expired(Instant::now()) {
                let wait = self.state.read(|t| disconnect_window(t, &node_id));
                let status = if wait.is_some() {
                    NODE_STATUS_DISCONNECTED
                } else {
                    NODE_STATUS_DOWN
                };
                tracing::warn!(node_id, status, "heartbeat missed");
                if let Err(e) = self.set_node_status(&node_id, status).await {
                    tracing::error!(node_id, %e, "marking a node that missed heartbeats failed");
                    continue;
                }
                // Down once the longest lost_after of what it runs has passed.
                if let Some(wait) = wait {
                    self.heartbeats
                        .set_deadline(&node_id, Instant::now() + wait);
                }
            }
        }
    }

    /// Holds a blocked evaluation, cancelling the job's older one, or retries it at once if
    /// capacity changed while it was being scheduled.
    pub(super) async fn block_eval(&self, eval: Evaluation) {
        match self.blocked.block(eval) {
            BlockOutcome::Held { superseded: None } => {}
            BlockOutcome::Held {
                superseded: Some(mut old),
            } => {
                old.status = EVAL_STATUS_CANCELED.into();
                old.status_description =
                    "evaluation superseded by a newer blocked evaluation".into();
                let _ = self
                    .raft
                    .apply(Command::EvalUpsert { evals: vec![old] })
                    .await;
            }
            BlockOutcome::RetryNow(mut e) => {
                e.status = EVAL_STATUS_PENDING.into();
                if let Ok((_, res)) = self
                    .raft
                    .apply(Command::EvalUpsert { evals: vec![e] })
                    .await
                {
                    self.enqueue_evals(&res.evals);
                }
            }
        }
    }

    /// Capacity may have appeared: blocked evaluations go back to the broker.
    pub(super) async fn unblock(&self, index: u64) {
        let evals: Vec<Evaluation> = self
            .blocked
            .unblock_all(index)
            .into_iter()
            .map(|mut e| {
                e.status = EVAL_STATUS_PENDING.into();
                e.status_description = String::new();
                e
            })
            .collect();
        if evals.is_empty() {
            return;
        }
        match self.raft.apply(Command::EvalUpsert { evals }).await {
            Ok((_, res)) => self.enqueue_evals(&res.evals),
            Err(e) => tracing::error!(%e, "unblocking evaluations failed"),
        }
    }

    /// Hands newly committed pending evaluations to the broker.
    pub(super) fn enqueue_evals(&self, evals: &[Arc<Evaluation>]) {
        let now = now_nanos();
        for e in evals {
            if e.status == EVAL_STATUS_PENDING {
                self.broker.enqueue((**e).clone(), now);
            }
        }
    }
}

/// How long a node that just missed its heartbeats stays `disconnected` before it is `down`: the
/// longest `lost_after` of the groups it runs allocations of. None: down now (no such group, or
/// it was already disconnected and that time is up).
fn disconnect_window(t: &crate::state::Tables, node_id: &str) -> Option<Duration> {
    let node = t.node(node_id)?;
    if node.status == NODE_STATUS_DISCONNECTED {
        return None;
    }
    longest_lost_after(t, node_id)
}

/// The longest `lost_after` of the groups whose live allocations run on the node.
fn longest_lost_after(t: &crate::state::Tables, node_id: &str) -> Option<Duration> {
    t.allocs_for_node(node_id)
        .iter()
        .filter(|a| !a.terminal())
        .filter_map(|a| {
            let job = a.job.as_ref()?;
            let rules = job.lookup_group(&a.task_group)?.disconnect_rules()?;
            Some(Duration::from_nanos(u64::try_from(rules.lost_after).ok()?))
        })
        .max()
}
