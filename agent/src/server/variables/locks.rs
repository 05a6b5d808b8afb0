//! Variable locks' TTL timers and lock delays, held by the leader in memory as Nomad does: the
//! state records who holds a lock, the leader decides when it lapses. A new leader restarts
//! every held lock's TTL from the moment it took over, so a holder never loses its lock to an
//! election.

use crate::state::variables::VarKey;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Default)]
pub struct LockTimers {
    inner: Mutex<Inner>,
    changed: tokio::sync::Notify,
}

#[derive(Default)]
struct Inner {
    /// Held locks: (lock id, TTL, lapses at).
    held: HashMap<VarKey, (String, Duration, Instant)>,
    /// Locks that lapsed: none may take the variable's lock again before this.
    delayed: HashMap<VarKey, Instant>,
}

/// A lock whose TTL ran out: release it, then keep it free of new holders for `delay`.
pub struct Lapsed {
    pub key: VarKey,
    pub lock_id: String,
}

impl LockTimers {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts (or restarts) the TTL of a lock just taken or found held.
    pub fn hold(&self, key: VarKey, lock_id: String, ttl: Duration) {
        self.inner()
            .held
            .insert(key, (lock_id, ttl, Instant::now() + ttl));
        self.changed.notify_one();
    }

    /// A renewal: true when `lock_id` holds the lock, whose TTL starts over.
    pub fn renew(&self, key: &VarKey, lock_id: &str) -> bool {
        let mut inner = self.inner();
        match inner.held.get_mut(key) {
            Some((id, ttl, at)) if id == lock_id => {
                *at = Instant::now() + *ttl;
                true
            }
            _ => false,
        }
    }

    pub fn release(&self, key: &VarKey) {
        self.inner().held.remove(key);
        self.changed.notify_one();
    }

    /// Starts a lapsed lock's delay.
    pub fn delay(&self, key: VarKey, delay: Duration) {
        self.inner().delayed.insert(key, Instant::now() + delay);
    }

    /// How long the variable stays unlockable after its last lock lapsed, if it still does.
    pub fn delayed_for(&self, key: &VarKey) -> Option<Duration> {
        let mut inner = self.inner();
        let until = *inner.delayed.get(key)?;
        let now = Instant::now();
        if until <= now {
            inner.delayed.remove(key);
            return None;
        }
        Some(until - now)
    }

    /// Takes the locks whose TTL has run out, and says when the next one will.
    pub fn take_lapsed(&self) -> (Vec<Lapsed>, Option<Instant>) {
        let now = Instant::now();
        let mut inner = self.inner();
        let keys: Vec<VarKey> = inner
            .held
            .iter()
            .filter(|(_, (_, _, at))| *at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        let lapsed = keys
            .into_iter()
            .filter_map(|key| {
                let (lock_id, _, _) = inner.held.remove(&key)?;
                Some(Lapsed { key, lock_id })
            })
            .collect();
        let next = inner.held.values().map(|(_, _, at)| *at).min();
        (lapsed, next)
    }

    /// Resolves when a lock is taken or released (the loop recomputes its next deadline).
    pub async fn changed(&self) {
        self.changed.notified().await
    }

    /// Leadership lost: the next leader rebuilds the timers from the state.
    pub fn clear(&self) {
        let mut inner = self.inner();
        inner.held.clear();
        inner.delayed.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(p: &str) -> VarKey {
        ("default".into(), p.into())
    }

    #[tokio::test(start_paused = true)]
    async fn locks_lapse_after_their_ttl_unless_renewed() {
        let t = LockTimers::default();
        t.hold(key("a"), "L1".into(), Duration::from_secs(10));
        t.hold(key("b"), "L2".into(), Duration::from_secs(20));
        tokio::time::advance(Duration::from_secs(8)).await;
        assert!(t.renew(&key("a"), "L1"));
        assert!(!t.renew(&key("a"), "other"), "only the holder renews");
        tokio::time::advance(Duration::from_secs(5)).await;
        let (lapsed, next) = t.take_lapsed();
        assert!(lapsed.is_empty(), "a was renewed at 8 s");
        assert!(next.is_some());
        tokio::time::advance(Duration::from_secs(10)).await;
        let (lapsed, next) = t.take_lapsed();
        let mut ids: Vec<String> = lapsed.into_iter().map(|l| l.lock_id).collect();
        ids.sort();
        assert_eq!(ids, ["L1", "L2"]);
        assert!(next.is_none());
        t.delay(key("a"), Duration::from_secs(15));
        assert!(t.delayed_for(&key("a")).is_some());
        tokio::time::advance(Duration::from_secs(16)).await;
        assert!(t.delayed_for(&key("a")).is_none());
    }
}
