//! Task lifecycle hooks, in Nomad's order: prestart tasks first (run to completion, or kept
//! running as sidecars), then the main tasks, poststart tasks once the main tasks run, and
//! poststop tasks once they have ended. Sidecars are stopped when the main tasks end.
//!
//! Each task runner asks the gate before its first start; the gate decides from the task
//! states the alloc runner keeps ([`may_start`], pure), and wakes on every change.

use api::{Task, TaskState, TASK_STATE_DEAD};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Prestart { sidecar: bool },
    Main,
    Poststart { sidecar: bool },
    Poststop,
}

impl Role {
    pub fn of(task: &Task) -> Role {
        let sidecar = task.is_sidecar();
        match task.hook() {
            Some(api::LIFECYCLE_PRESTART) => Role::Prestart { sidecar },
            Some(api::LIFECYCLE_POSTSTART) => Role::Poststart { sidecar },
            Some(api::LIFECYCLE_POSTSTOP) => Role::Poststop,
            _ => Role::Main,
        }
    }

    pub fn is_sidecar(self) -> bool {
        matches!(
            self,
            Role::Prestart { sidecar: true } | Role::Poststart { sidecar: true }
        )
    }
}

fn dead(s: Option<&TaskState>) -> bool {
    s.is_some_and(|s| s.state == TASK_STATE_DEAD)
}

fn started(s: Option<&TaskState>) -> bool {
    s.is_some_and(|s| !s.started_at.is_empty())
}

/// Whether task `task` may start, given every task's role and current state.
pub fn may_start(
    task: &str,
    roles: &BTreeMap<String, Role>,
    states: &BTreeMap<String, TaskState>,
) -> bool {
    let all = |want: fn(Role) -> bool, ok: &dyn Fn(Option<&TaskState>) -> bool| {
        roles
            .iter()
            .filter(|(_, r)| want(**r))
            .all(|(name, _)| ok(states.get(name)))
    };
    match roles.get(task).copied().unwrap_or(Role::Main) {
        Role::Prestart { .. } => true,
        Role::Main => {
            all(|r| r == Role::Prestart { sidecar: false }, &|s| {
                dead(s) && s.is_some_and(|s| !s.failed)
            }) && all(|r| r == Role::Prestart { sidecar: true }, &|s| {
                started(s) && !dead(s)
            })
        }
        Role::Poststart { .. } => all(|r| r == Role::Main, &|s| started(s) || dead(s)),
        Role::Poststop => all(|r| r == Role::Main, &dead),
    }
}

/// Whether the main tasks have all ended (the sidecars are then stopped).
pub fn main_tasks_done(
    roles: &BTreeMap<String, Role>,
    states: &BTreeMap<String, TaskState>,
) -> bool {
    roles
        .iter()
        .filter(|(_, r)| **r == Role::Main)
        .all(|(name, _)| dead(states.get(name)))
}

/// What a task runner waits on before its first start.
#[derive(Clone)]
pub struct LifecycleGate {
    pub roles: Arc<BTreeMap<String, Role>>,
    states: Arc<Mutex<BTreeMap<String, TaskState>>>,
    changes: watch::Receiver<u64>,
}

impl LifecycleGate {
    pub fn new(
        roles: BTreeMap<String, Role>,
        states: Arc<Mutex<BTreeMap<String, TaskState>>>,
        changes: watch::Receiver<u64>,
    ) -> LifecycleGate {
        LifecycleGate {
            roles: Arc::new(roles),
            states,
            changes,
        }
    }

    /// Resolves once `task` may start.
    pub async fn wait(&self, task: &str) {
        let mut changes = self.changes.clone();
        loop {
            let open = match self.states.lock() {
                Ok(s) => may_start(task, &self.roles, &s),
                Err(p) => may_start(task, &self.roles, &p.into_inner()),
            };
            if open {
                return;
            }
            if changes.changed().await.is_err() {
                // The alloc runner is gone: the task runner's own signals end it.
                return std::future::pending().await;
            }
        }
    }

    pub fn role(&self, task: &str) -> Role {
        self.roles.get(task).copied().unwrap_or(Role::Main)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(state: &str, started: bool, failed: bool) -> TaskState {
        TaskState {
            state: state.into(),
            started_at: if started { "t".into() } else { String::new() },
            failed,
            ..Default::default()
        }
    }

    #[test]
    fn nomads_order() {
        let roles = BTreeMap::from([
            ("init".to_string(), Role::Prestart { sidecar: false }),
            ("proxy".to_string(), Role::Prestart { sidecar: true }),
            ("app".to_string(), Role::Main),
            ("warm".to_string(), Role::Poststart { sidecar: false }),
            ("cleanup".to_string(), Role::Poststop),
        ]);
        let mut s = BTreeMap::new();
        assert!(may_start("init", &roles, &s) && may_start("proxy", &roles, &s));
        assert!(!may_start("app", &roles, &s));
        s.insert("init".to_string(), st("dead", true, false));
        assert!(
            !may_start("app", &roles, &s),
            "the sidecar is not running yet"
        );
        s.insert("proxy".to_string(), st("running", true, false));
        assert!(may_start("app", &roles, &s));
        assert!(!may_start("warm", &roles, &s) && !may_start("cleanup", &roles, &s));
        s.insert("app".to_string(), st("running", true, false));
        assert!(may_start("warm", &roles, &s));
        assert!(!may_start("cleanup", &roles, &s));
        assert!(!main_tasks_done(&roles, &s));
        s.insert("app".to_string(), st("dead", true, false));
        assert!(may_start("cleanup", &roles, &s) && main_tasks_done(&roles, &s));
        // A prestart task that failed keeps the main tasks from starting.
        s.insert("init".to_string(), st("dead", true, true));
        assert!(!may_start("app", &roles, &s));
    }
}
