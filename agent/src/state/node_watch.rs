//! Wake-ups for the clients' allocation queries, one per node: a change to a node's allocations
//! wakes that node's query and no other. With thousands of clients each holding a query open,
//! waking all of them on every write would cost more than the writes themselves.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use tokio::sync::watch;

#[derive(Default)]
pub(crate) struct NodeWatches {
    /// Node id -> the index of the last change to its allocations, for the queries waiting.
    /// An entry lives while a query holds a receiver of it.
    senders: Mutex<HashMap<String, watch::Sender<u64>>>,
}

impl NodeWatches {
    pub(crate) fn subscribe(&self, node_id: &str) -> watch::Receiver<u64> {
        let mut senders = self.senders.lock().unwrap_or_else(PoisonError::into_inner);
        match senders.get(node_id) {
            Some(tx) => tx.subscribe(),
            None => {
                let (tx, rx) = watch::channel(0);
                senders.insert(node_id.to_string(), tx);
                rx
            }
        }
    }

    /// Wakes the queries of `nodes` (repeats allowed).
    pub(crate) fn notify<'a>(&self, nodes: impl IntoIterator<Item = &'a String>, index: u64) {
        let mut senders = self.senders.lock().unwrap_or_else(PoisonError::into_inner);
        for node in nodes {
            let Some(tx) = senders.get(node) else {
                continue;
            };
            if tx.receiver_count() == 0 {
                senders.remove(node);
            } else {
                tx.send_replace(index);
            }
        }
    }

    /// Wakes every query (the whole state was replaced).
    pub(crate) fn notify_all(&self, index: u64) {
        let mut senders = self.senders.lock().unwrap_or_else(PoisonError::into_inner);
        senders.retain(|_, tx| tx.receiver_count() > 0);
        for tx in senders.values() {
            tx.send_replace(index);
        }
    }
}
