//! Sends allocation status changes to the servers, coalescing bursts: changes arriving within a
//! short window go in one `update_allocs` call, and only the newest state of each allocation is
//! sent. Failed sends are retried, merged with newer changes.

use crate::rpc::ServerRpc;
use api::AllocClientUpdate;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const FLUSH_WINDOW: Duration = Duration::from_millis(50);
const RETRY_DELAY: Duration = Duration::from_secs(1);

/// Runs until every sender of `rx` is gone, then sends what is left (one try per second for at
/// most `final_tries` tries).
pub fn spawn(
    rpc: Arc<dyn ServerRpc>,
    mut rx: mpsc::UnboundedReceiver<AllocClientUpdate>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut pending: BTreeMap<String, AllocClientUpdate> = BTreeMap::new();
        let mut closed = false;
        let mut final_tries = 3;
        loop {
            if pending.is_empty() {
                match rx.recv().await {
                    Some(u) => {
                        pending.insert(u.id.clone(), u);
                    }
                    None => return,
                }
            }
            if !closed {
                tokio::time::sleep(FLUSH_WINDOW).await;
            }
            loop {
                match rx.try_recv() {
                    Ok(u) => {
                        pending.insert(u.id.clone(), u);
                    }
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        closed = true;
                        break;
                    }
                }
            }
            let batch: Vec<_> = pending.values().cloned().collect();
            match rpc.update_allocs(batch).await {
                Ok(_) => pending.clear(),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot report allocation status, retrying");
                    if closed {
                        final_tries -= 1;
                        if final_tries == 0 {
                            return;
                        }
                    }
                    tokio::time::sleep(RETRY_DELAY).await;
                }
            }
            if closed && pending.is_empty() {
                return;
            }
        }
    })
}
