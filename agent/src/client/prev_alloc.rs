//! The data a replacement inherits from the allocation it replaces, with `ephemeral_disk {
//! sticky = true }` or `{ migrate = true }`: the group's `alloc/data` and each task's `local/`.
//!
//! The scheduler places such a replacement on its predecessor's node when it can. There the
//! replacement waits for the predecessor's tasks to end (a destructive update stops it in the
//! same plan), then takes the directories over by renaming them, before any of its own tasks
//! starts.
//!
//! With `migrate`, a replacement placed on another node (a drain, a full node) asks the servers
//! where the predecessor ran, waits until the servers see it ended, then fetches its
//! directories from that node's `/v1/client/allocation/:id/snapshot` with the migrate token the
//! servers gave (alloc_snapshot.rs packs and unpacks them). Without `migrate` (sticky only), such
//! a replacement starts empty, as in Nomad. A failed fetch is logged and the tasks start anyway.

use super::alloc_runner::RunnerContext;
use super::alloc_snapshot;
use super::allocdir::AllocDir;
use super::task_runner::RunnerSignal;
use crate::rpc::{PreviousAllocation, ServerRpc};
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long a replacement waits for its predecessor's tasks to end before it starts without
/// the data.
const WAIT_LIMIT: Duration = Duration::from_secs(600);
/// How often a replacement asks the servers whether its remote predecessor has ended.
const POLL: Duration = Duration::from_secs(1);

/// Why a replacement starts without its predecessor's data.
#[derive(Debug, thiserror::Error)]
pub enum HandOverError {
    #[error("the previous allocation did not end within {WAIT_LIMIT:?}")]
    NotEnded,
    #[error("the previous allocation's runner went away")]
    RunnerGone,
    #[error("moving the data: {0}")]
    Move(std::io::Error),
    #[error("asking node {node}: {reason}")]
    Unreachable { node: String, reason: String },
    #[error("node {node} answered {status}: {message}")]
    Refused {
        node: String,
        status: u16,
        message: String,
    },
    #[error("the data is larger than the group's ephemeral_disk size ({size_mb} MB): cut off")]
    TooLarge { size_mb: u64 },
    #[error("unpacking the data from node {node}: {source}")]
    Unpack {
        node: String,
        source: std::io::Error,
    },
    #[error("the hand-over task stopped: {0}")]
    Stopped(String),
}

pub struct PreviousAlloc {
    id: String,
    source: Source,
}

enum Source {
    /// On this node: its directories are renamed over.
    Local {
        dir: AllocDir,
        /// The predecessor's runner on this node, true once its tasks ended; None when no
        /// runner holds it any more (finished before this agent started).
        done: Option<watch::Receiver<bool>>,
    },
    /// On another node, fetched from it (`migrate`).
    Remote {
        /// The replacement, which the servers answer about.
        alloc_id: String,
        servers: Arc<dyn ServerRpc>,
        tls: Option<Arc<crate::tls::Tls>>,
        /// The group's `ephemeral_disk.size`: a larger snapshot is cut off there.
        limit_bytes: u64,
    },
}

impl PreviousAlloc {
    /// The predecessor of `alloc` whose data it should take, when it has one.
    pub fn find(
        alloc: &api::Allocation,
        ctx: &RunnerContext,
        done: Option<watch::Receiver<bool>>,
    ) -> Option<PreviousAlloc> {
        let group = alloc
            .job
            .as_deref()
            .and_then(|j| j.lookup_group(&alloc.task_group))?;
        if !group.keeps_data() || alloc.previous_allocation.is_empty() {
            return None;
        }
        let id = alloc.previous_allocation.clone();
        let dir = AllocDir::new(&ctx.alloc_base, &id);
        if done.is_some() || dir.root.exists() {
            return Some(PreviousAlloc {
                id,
                source: Source::Local { dir, done },
            });
        }
        if !group.migrates_data() {
            tracing::info!(
                alloc = %alloc.id,
                previous = %id,
                "the previous allocation ran on another node and the group is only sticky: starting without its data"
            );
            return None;
        }
        let size_mb = u64::try_from(group.disk_mb()).unwrap_or(0);
        Some(PreviousAlloc {
            id,
            source: Source::Remote {
                alloc_id: alloc.id.clone(),
                servers: ctx.servers.clone(),
                tls: ctx.tls.clone(),
                limit_bytes: size_mb.saturating_mul(1 << 20),
            },
        })
    }

    /// Waits for the predecessor to end, then moves or fetches its data into `to`. Failures
    /// are logged: the replacement starts either way. Gives up when `signal` leaves `Run`
    /// (the replacement itself is stopped).
    pub async fn hand_over(
        self,
        to: &AllocDir,
        tasks: &[String],
        mut signal: watch::Receiver<RunnerSignal>,
    ) {
        let id = self.id.clone();
        let stopped = async move {
            let _ = signal.wait_for(|s| *s != RunnerSignal::Run).await;
        };
        let moved = tokio::select! {
            r = self.take(to, tasks) => r,
            () = stopped => return,
        };
        match moved {
            Ok(n) => {
                tracing::info!(previous = %id, moved = n, "took over the previous allocation's data")
            }
            Err(e) => {
                tracing::warn!(previous = %id, error = %e, "starting without the previous allocation's data")
            }
        }
    }

    async fn take(self, to: &AllocDir, tasks: &[String]) -> Result<usize, HandOverError> {
        let (to, tasks) = (to.clone(), tasks.to_vec());
        match self.source {
            Source::Local { dir, mut done } => {
                if let Some(done) = done.as_mut() {
                    tokio::time::timeout(WAIT_LIMIT, done.wait_for(|d| *d))
                        .await
                        .map_err(|_| HandOverError::NotEnded)?
                        .map_err(|_| HandOverError::RunnerGone)?;
                }
                blocking(move || move_data(&dir, &to, &tasks).map_err(HandOverError::Move)).await
            }
            Source::Remote {
                alloc_id,
                servers,
                tls,
                limit_bytes,
            } => {
                let Some(from) = wait_remote_end(&*servers, &alloc_id).await? else {
                    return Ok(0);
                };
                tracing::info!(previous = %from.alloc_id, node = %from.node_name, "fetching the previous allocation's data");
                blocking(move || fetch(&from, tls.as_deref(), &to, &tasks, limit_bytes)).await
            }
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, HandOverError> + Send + 'static,
) -> Result<T, HandOverError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| HandOverError::Stopped(e.to_string()))?
}

/// Asks the servers until they see the remote predecessor ended. None when there is nothing
/// to fetch (collected already, or the servers know of no other node).
async fn wait_remote_end(
    servers: &dyn ServerRpc,
    alloc_id: &str,
) -> Result<Option<PreviousAllocation>, HandOverError> {
    let deadline = tokio::time::Instant::now() + WAIT_LIMIT;
    loop {
        match servers.previous_allocation(alloc_id).await {
            Ok(None) => return Ok(None),
            Ok(Some(p)) if p.terminal => return Ok(Some(p)),
            Ok(Some(_)) => {}
            Err(e) => {
                tracing::debug!(alloc = %alloc_id, error = %e, "asking where the previous allocation ran")
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(HandOverError::NotEnded);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Streams the snapshot of `from` into `to`; returns how many files arrived.
fn fetch(
    from: &PreviousAllocation,
    tls: Option<&crate::tls::Tls>,
    to: &AllocDir,
    tasks: &[String],
    limit_bytes: u64,
) -> Result<usize, HandOverError> {
    let unreachable = |reason: String| HandOverError::Unreachable {
        node: from.node_name.clone(),
        reason,
    };
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_recv_response(Some(Duration::from_secs(60)));
    let (agent, base) = crate::tls::node_http_agent(tls, &from.http_addr, config)
        .map_err(|e| unreachable(e.to_string()))?;
    let url = format!("{base}/v1/client/allocation/{}/snapshot", from.alloc_id);
    let resp = agent
        .get(&url)
        // The old node takes the migrate token where API tokens go.
        .header("X-Nomad-Token", &from.migrate_token)
        .call()
        .map_err(|e| unreachable(e.to_string()))?;
    let status = resp.status().as_u16();
    let mut body = resp.into_body().into_reader();
    if status != 200 {
        let mut msg = String::new();
        let _ = body.by_ref().take(4096).read_to_string(&mut msg);
        return Err(HandOverError::Refused {
            node: from.node_name.clone(),
            status,
            message: msg.trim().to_string(),
        });
    }
    let mut limited = body.take(limit_bytes);
    let got = alloc_snapshot::unpack(&mut limited, to, tasks);
    if limited.limit() == 0 {
        return Err(HandOverError::TooLarge {
            size_mb: limit_bytes >> 20,
        });
    }
    let got = got.map_err(|source| HandOverError::Unpack {
        node: from.node_name.clone(),
        source,
    })?;
    if got.skipped > 0 {
        tracing::warn!(previous = %from.alloc_id, skipped = got.skipped, "left out links and paths outside alloc/data and local/");
    }
    Ok(got.files)
}

/// Moves `alloc/data` and each task's `local/` from `from` to `to`; returns how many moved.
pub fn move_data(from: &AllocDir, to: &AllocDir, tasks: &[String]) -> std::io::Result<usize> {
    to.build()?;
    let mut pairs = vec![(from.shared_dir().join("data"), to.shared_dir().join("data"))];
    for t in tasks {
        to.build_task(t)?;
        pairs.push((from.local_dir(t), to.local_dir(t)));
    }
    let mut moved = 0;
    for (src, dst) in pairs {
        if !src.is_dir() {
            continue;
        }
        // The destination was just made, empty: replace it whole.
        std::fs::remove_dir_all(&dst)?;
        std::fs::rename(&src, &dst)?;
        moved += 1;
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_and_local_dirs_move_to_the_replacement() {
        let base = tempfile::tempdir().unwrap();
        let (old, new) = (
            AllocDir::new(base.path(), "old"),
            AllocDir::new(base.path(), "new"),
        );
        old.build_task("web").unwrap();
        std::fs::write(old.shared_dir().join("data/db"), "rows").unwrap();
        std::fs::write(old.local_dir("web").join("cache"), "warm").unwrap();
        let n = move_data(&old, &new, &["web".into(), "gone".into()]).unwrap();
        assert_eq!(n, 2);
        let read = |p: std::path::PathBuf| std::fs::read_to_string(p).unwrap();
        assert_eq!(read(new.shared_dir().join("data/db")), "rows");
        assert_eq!(read(new.local_dir("web").join("cache")), "warm");
        assert!(new.local_dir("gone").is_dir());
        assert!(!old.shared_dir().join("data").exists());
    }
}
