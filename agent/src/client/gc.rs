//! The client's garbage collector: directories of finished allocations are kept for their logs
//! and files (`alloc logs` of a failed task), but not forever. Every `gc_interval`, while the
//! client tracks more than `gc_max_allocs` allocations or the data dir's file system is fuller
//! than `gc_disk_usage_threshold` percent, the oldest finished ones are destroyed (directory
//! and stored state). Running allocations are never touched.

use super::alloc_runner::AllocRunner;
use super::Client;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientGcConfig {
    pub interval: Duration,
    pub max_allocs: usize,
    /// Percent of the file system holding the allocation directories.
    pub disk_usage_threshold: u8,
}

impl Default for ClientGcConfig {
    /// Nomad's defaults.
    fn default() -> Self {
        ClientGcConfig {
            interval: Duration::from_secs(60),
            max_allocs: 50,
            disk_usage_threshold: 80,
        }
    }
}

/// Whether the allocation's group hands its data to a replacement.
fn keeps_data(a: &api::Allocation) -> bool {
    a.job
        .as_deref()
        .and_then(|j| j.lookup_group(&a.task_group))
        .is_some_and(|g| g.keeps_data())
}

/// Percent of `path`'s file system in use, as `df` counts it.
fn disk_usage_percent(path: &Path) -> Option<u8> {
    let st = nix::sys::statvfs::statvfs(path).ok()?;
    let total = st.blocks() as u128;
    let avail = st.blocks_available() as u128;
    let used = total.saturating_sub(st.blocks_free() as u128);
    let usable = used + avail;
    (usable > 0).then(|| (used * 100 / usable).min(100) as u8)
}

impl Client {
    pub(super) async fn gc_loop(self: Arc<Self>) {
        while self.sleep_or_stop(self.gc.interval).await {
            let n = self.collect_garbage().await;
            if n > 0 {
                tracing::info!(removed = n, "removed finished allocations' directories");
            }
        }
    }

    /// One pass; returns how many allocations were destroyed.
    pub async fn collect_garbage(&self) -> usize {
        let (tracked, mut finished): (usize, Vec<Arc<AllocRunner>>) = match self.runners.lock() {
            Ok(r) => {
                // A predecessor whose data a live sticky or migrating replacement takes over
                // stays until that replacement ends (see prev_alloc.rs).
                let inherited: std::collections::HashSet<String> = r
                    .values()
                    .filter(|r| !r.finished())
                    .map(|r| r.alloc())
                    .filter(|a| !a.previous_allocation.is_empty() && keeps_data(a))
                    .map(|a| a.previous_allocation.clone())
                    .collect();
                (
                    r.len(),
                    r.values()
                        .filter(|r| r.finished() && !inherited.contains(&r.id))
                        .cloned()
                        .collect(),
                )
            }
            Err(_) => return 0,
        };
        // Oldest first: the servers' last change to each.
        finished.sort_by_key(|r| r.alloc().modify_time);
        let mut tracked = tracked;
        let mut removed = 0;
        for runner in finished {
            let over_count = tracked > self.gc.max_allocs;
            let over_disk = disk_usage_percent(&self.alloc_base)
                .is_some_and(|p| p > self.gc.disk_usage_threshold);
            if !over_count && !over_disk {
                break;
            }
            self.forget_finished(&runner).await;
            tracked -= 1;
            removed += 1;
        }
        removed
    }

    /// Destroys a finished allocation now, and remembers that it did, so that the servers'
    /// next listing (which may still show it) does not start it again.
    async fn forget_finished(&self, runner: &Arc<AllocRunner>) {
        let id = runner.id.clone();
        if let Ok(mut c) = self.collected.lock() {
            c.insert(id.clone());
        }
        if let Ok(mut r) = self.runners.lock() {
            r.remove(&id);
        }
        tracing::info!(alloc = %id, "garbage collecting a finished allocation");
        runner.destroy().await;
    }
}

/// Why `alloc gc` (one allocation, on an operator's request) did not collect.
#[derive(Debug, thiserror::Error)]
pub enum AllocGcError {
    #[error("allocation {0} does not run on this client")]
    Unknown(String),
    #[error("allocation {0} is still running: stop it first")]
    Running(String),
}

impl Client {
    /// `GET /v1/client/gc`: every finished allocation's directory now, whatever the limits.
    pub async fn collect_all_finished(&self) -> usize {
        let finished: Vec<Arc<AllocRunner>> = match self.runners.lock() {
            Ok(r) => r.values().filter(|r| r.finished()).cloned().collect(),
            Err(_) => return 0,
        };
        for runner in &finished {
            self.forget_finished(runner).await;
        }
        finished.len()
    }

    /// `GET /v1/client/allocation/:id/gc`: one finished allocation's directory now.
    pub async fn collect_alloc(&self, alloc_id: &str) -> Result<(), AllocGcError> {
        let runner = self
            .runners
            .lock()
            .ok()
            .and_then(|r| r.get(alloc_id).cloned())
            .ok_or_else(|| AllocGcError::Unknown(alloc_id.to_string()))?;
        if !runner.finished() {
            return Err(AllocGcError::Running(alloc_id.to_string()));
        }
        self.forget_finished(&runner).await;
        Ok(())
    }
}
