//! The garbage collector, Nomad's core jobs in one loop: on the leader, every `job_gc_interval`,
//! what is old and terminal (state/gc.rs decides) is removed through raft, so every server drops
//! the same things. `system gc` runs one collection at once, with no age limit.

use super::{now_nanos, Server, ServerError};
use crate::state::{Command, GcCounts, GcThresholds};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Items per raft entry: a collection after a long outage is many small entries, not one huge.
const GC_BATCH: usize = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcConfig {
    /// How often the leader collects (`job_gc_interval`, Nomad's 5m).
    pub interval: Duration,
    pub thresholds: GcThresholds,
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            interval: Duration::from_secs(300),
            thresholds: GcThresholds::default(),
        }
    }
}

impl Server {
    /// The leader's periodic collection; stops with the leadership term.
    pub(super) async fn gc_loop(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.cfg.gc.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate: a new leader waits one interval, like the others.
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            let thresholds = self.cfg.gc.thresholds;
            match self.collect_garbage(&thresholds).await {
                Ok(n) if !n.is_empty() => tracing::info!(?n, "garbage collected"),
                Ok(_) => {}
                Err(e) => tracing::warn!(%e, "garbage collection failed; retrying next interval"),
            }
        }
    }

    /// One collection: batches of candidates through raft until none is left. Only on the
    /// leader (the HTTP layer relays `system gc` there).
    pub async fn collect_garbage(&self, th: &GcThresholds) -> Result<GcCounts, ServerError> {
        let mut total = GcCounts::default();
        loop {
            // The scan reads the whole state: on a snapshot (not under the state's lock, which
            // raft's applies wait on) and on a blocking thread (not the runtime's, which raft's
            // heartbeats share). The snapshot is dropped before the raft write.
            let snap = self.state.snapshot();
            let (now, th) = (now_nanos(), *th);
            let collect =
                tokio::task::spawn_blocking(move || snap.gc_candidates(now, &th, GC_BATCH))
                    .await
                    .map_err(|e| ServerError::Unavailable(format!("the GC scan stopped: {e}")))?;
            if collect.is_empty() {
                return Ok(total);
            }
            let (_, res) = self
                .raft
                .apply(Command::GarbageCollect { collect })
                .await
                .map_err(ServerError::Raft)?;
            let n = res.collected.unwrap_or_default();
            total += n;
            if n.is_empty() {
                // Everything proposed came back to life meanwhile: the next interval looks again.
                return Ok(total);
            }
        }
    }
}
