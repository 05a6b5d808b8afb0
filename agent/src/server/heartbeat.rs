//! Heartbeat timers (leader only): one deadline per client node, reset by its heartbeats. A node
//! whose deadline passes is marked down by the leader, which reschedules its allocations.

use rand::Rng;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct HeartbeatConfig {
    /// The shortest TTL handed to a client.
    pub min_ttl: Duration,
    /// Extra time past the TTL before the node is declared down (absorbs network delay).
    pub grace: Duration,
    /// Upper bound on heartbeats per second the leader wants to handle: with many nodes the TTL
    /// grows so that nodes / ttl stays under it.
    pub max_per_second: f64,
    /// TTL given to every known node when leadership is gained, so that clients have time to
    /// find the new leader before any is declared down.
    pub failover_ttl: Duration,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        // Nomad's 10 s + 10 s notice a dead client after up to 30 s; a small cluster here notices
        // within 2.5-4.5 s (clients beat every half TTL, so 1 s of lateness plus the grace is
        // absorbed). With many nodes the TTL grows to keep the leader under 50 heartbeats a
        // second: 5,000 nodes beat every 100-150 s.
        HeartbeatConfig {
            min_ttl: Duration::from_secs(2),
            grace: Duration::from_millis(1500),
            max_per_second: 50.0,
            failover_ttl: Duration::from_secs(30),
        }
    }
}

pub struct HeartbeatTimers {
    cfg: HeartbeatConfig,
    deadlines: Mutex<HashMap<String, Instant>>,
}

impl HeartbeatTimers {
    pub fn new(cfg: HeartbeatConfig) -> Self {
        HeartbeatTimers {
            cfg,
            deadlines: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        match self.deadlines.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Resets a node's timer and returns the TTL the client must heartbeat within.
    pub fn reset(&self, node_id: &str) -> Duration {
        let mut g = self.lock();
        let n = g.len().max(1) as f64;
        // Clients beat every half TTL: n nodes at TTL t send 2n/t heartbeats a second, which
        // must stay under max_per_second.
        let base = self
            .cfg
            .min_ttl
            .max(Duration::from_secs_f64(2.0 * n / self.cfg.max_per_second));
        // Spread the next heartbeats out so that clients do not synchronise.
        let ttl = base + base.mul_f64(rand::rng().random_range(0.0..0.5));
        g.insert(node_id.to_string(), Instant::now() + ttl + self.cfg.grace);
        ttl
    }

    pub fn failover_ttl(&self) -> Duration {
        self.cfg.failover_ttl
    }

    /// Sets when a node is next due (a disconnected node: when it turns down).
    pub fn set_deadline(&self, node_id: &str, at: Instant) {
        self.lock().insert(node_id.to_string(), at);
    }

    /// Gives a node the failover TTL (new leader, or node known from the state).
    pub fn set_failover(&self, node_id: &str) {
        self.lock()
            .insert(node_id.to_string(), Instant::now() + self.cfg.failover_ttl);
    }

    /// Leadership lost: the next leader keeps the timers.
    pub fn clear(&self) {
        self.lock().clear();
    }

    pub fn remove(&self, node_id: &str) {
        self.lock().remove(node_id);
    }

    /// Removes and returns nodes whose deadline passed.
    pub fn expired(&self, now: Instant) -> Vec<String> {
        let mut g = self.lock();
        let gone: Vec<String> = g
            .iter()
            .filter(|(_, d)| **d <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &gone {
            g.remove(id);
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_grows_with_the_number_of_nodes() {
        // Scenario: with 10 heartbeats/s allowed and 100 nodes, the TTL must be at least 10 s.
        let t = HeartbeatTimers::new(HeartbeatConfig {
            min_ttl: Duration::from_secs(1),
            grace: Duration::from_secs(1),
            max_per_second: 10.0,
            failover_ttl: Duration::from_secs(5),
        });
        for i in 0..100 {
            t.reset(&format!("n{i}"));
        }
        let ttl = t.reset("n0");
        assert!(ttl >= Duration::from_secs(10), "ttl {ttl:?}");
    }

    #[test]
    fn expired_nodes_are_reported_once() {
        let t = HeartbeatTimers::new(HeartbeatConfig::default());
        t.reset("a");
        let later = Instant::now() + Duration::from_secs(3600);
        assert_eq!(t.expired(later), vec!["a".to_string()]);
        assert!(t.expired(later).is_empty());
    }
}
