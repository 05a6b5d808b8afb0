//! The data a replacement inherits from the allocation it replaces, with `ephemeral_disk {
//! sticky = true }` or `{ migrate = true }`: the group's `alloc/data` and each task's `local/`.
//!
//! The scheduler places such a replacement on its predecessor's node when it can. There the
//! replacement waits for the predecessor's tasks to end (a destructive update stops it in the
//! same plan), then takes the directories over by renaming them, before any of its own tasks
//! starts. A replacement that landed on another node starts empty: copying data between nodes
//! is not implemented, and `Job::warnings` says so for `migrate`.

use super::allocdir::AllocDir;
use std::path::Path;
use std::time::Duration;
use tokio::sync::watch;

/// How long a replacement waits for its predecessor's tasks to end before it starts without
/// the data.
const WAIT_LIMIT: Duration = Duration::from_secs(600);

pub struct PreviousAlloc {
    id: String,
    dir: AllocDir,
    /// The predecessor's runner on this node, true once its tasks ended; None when no runner
    /// holds it any more (finished before this agent started).
    done: Option<watch::Receiver<bool>>,
}

impl PreviousAlloc {
    /// The predecessor of `alloc` whose data it should take, when it has one on this node.
    pub fn find(
        alloc: &api::Allocation,
        alloc_base: &Path,
        done: Option<watch::Receiver<bool>>,
    ) -> Option<PreviousAlloc> {
        let keeps = alloc
            .job
            .as_deref()
            .and_then(|j| j.lookup_group(&alloc.task_group))
            .is_some_and(|g| g.keeps_data());
        if !keeps || alloc.previous_allocation.is_empty() {
            return None;
        }
        let dir = AllocDir::new(alloc_base, &alloc.previous_allocation);
        if done.is_none() && !dir.root.exists() {
            tracing::info!(
                alloc = %alloc.id,
                previous = %alloc.previous_allocation,
                "the previous allocation ran on another node: starting without its data"
            );
            return None;
        }
        Some(PreviousAlloc {
            id: alloc.previous_allocation.clone(),
            dir,
            done,
        })
    }

    /// Waits for the predecessor's tasks to end, then moves its data into `to`. Failures are
    /// logged: the replacement starts either way.
    pub async fn hand_over(mut self, to: &AllocDir, tasks: &[String]) {
        if let Some(done) = self.done.as_mut() {
            let ended = tokio::time::timeout(WAIT_LIMIT, done.wait_for(|d| *d)).await;
            if ended.is_err() {
                tracing::warn!(previous = %self.id, "the previous allocation did not stop in time: starting without its data");
                return;
            }
        }
        let (from, to, tasks) = (self.dir.clone(), to.clone(), tasks.to_vec());
        let id = self.id.clone();
        let moved = tokio::task::spawn_blocking(move || move_data(&from, &to, &tasks)).await;
        match moved {
            Ok(Ok(n)) => {
                tracing::info!(previous = %id, moved = n, "took over the previous allocation's data")
            }
            Ok(Err(e)) => {
                tracing::warn!(previous = %id, error = %e, "moving the previous allocation's data failed")
            }
            Err(e) => {
                tracing::warn!(previous = %id, error = %e, "moving the previous allocation's data stopped")
            }
        }
    }
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
