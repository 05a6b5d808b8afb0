//! When to snapshot: Nomad's rule rather than openraft's. openraft can snapshot the moment the
//! log grows past the threshold, which puts every server of a busy cluster into a snapshot at
//! the same index, and so at the same moment. Like Nomad (hashicorp/raft), each server instead
//! looks at its log every `interval` to `2 x interval`, picked at random each time, and snapshots
//! only if at least `threshold` entries were applied since its last snapshot.

use super::types::OpenRaft;
use openraft::async_runtime::watch::WatchReceiver;
use rand::Rng;
use std::time::Duration;

pub(super) async fn run(raft: OpenRaft, threshold: u64, interval: Duration) {
    let threshold = threshold.max(1);
    loop {
        let jitter = interval.mul_f64(rand::rng().random_range(0.0..1.0));
        tokio::time::sleep(interval + jitter).await;
        let due = {
            let rx = raft.metrics();
            let m = rx.borrow_watched();
            if m.running_state.is_err() {
                // Raft stopped: so does this timer, rather than keep its handle alive.
                return;
            }
            let applied = m.last_applied.as_ref().map_or(0, |l| l.index());
            let snapshot = m.snapshot.as_ref().map_or(0, |l| l.index());
            applied.saturating_sub(snapshot) >= threshold
        };
        // An error means raft stopped: so does this timer.
        if due && raft.trigger().snapshot().await.is_err() {
            return;
        }
    }
}
