//! Nomad Variables in the replicated state: each variable's metadata in the clear and its items
//! only as ciphertext, plus the metadata of the keyring's keys. The keys themselves never enter
//! the log or a snapshot (see `server::variables::keyring`).
//!
//! Check-and-set and lock ownership are decided here, at apply time, so two writers racing
//! through the leader are ordered by the log: the second sees the first's write and conflicts.

use super::command::ApplyResult;
use super::tables::Tables;
use imbl::OrdMap;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// (namespace, path)
pub type VarKey = (String, String);

/// A variable as stored: `data` is the AEAD nonce followed by the sealed items, sealed with the
/// keyring key `key_id` and bound to the variable's namespace and path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedVariable {
    pub namespace: String,
    pub path: String,
    pub create_index: u64,
    pub modify_index: u64,
    pub create_time: i64,
    pub modify_time: i64,
    pub key_id: String,
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
    #[serde(default)]
    pub lock: Option<api::variable::VariableLock>,
}

impl EncryptedVariable {
    pub fn key(&self) -> VarKey {
        (self.namespace.clone(), self.path.clone())
    }

    /// The variable without its items.
    pub fn metadata(&self) -> api::variable::VariableMetadata {
        api::variable::VariableMetadata {
            namespace: self.namespace.clone(),
            path: self.path.clone(),
            create_index: self.create_index,
            modify_index: self.modify_index,
            create_time: self.create_time,
            modify_time: self.modify_time,
            lock: self.lock.clone(),
        }
    }
}

/// A keyring key as the state knows it: which one, not what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootKeyMeta {
    pub key_id: String,
    /// "aes256-gcm".
    pub algorithm: String,
    pub create_time: i64,
    /// The key new writes are sealed with; older keys still open what they sealed.
    pub active: bool,
}

/// What a variable write does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VarOp {
    Set,
    Delete,
    /// Takes the lock in `var.lock`; keeps the stored items when `keep_items` is set.
    LockAcquire,
    LockRelease,
}

/// A variable write: the new value (already sealed by the leader) and its conditions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VarWrite {
    pub op: VarOp,
    pub var: EncryptedVariable,
    /// Check-and-set: the modify index the caller saw (0: only if it does not exist).
    pub cas: Option<u64>,
    /// The lock the caller holds, for writes to a locked variable and for a release.
    pub lock_id: Option<String>,
    /// A lock acquire without items keeps what the variable holds.
    #[serde(default)]
    pub keep_items: bool,
    pub now: i64,
}

/// How a variable write ended, for the caller.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum VarOutcome {
    Written(Arc<EncryptedVariable>),
    Deleted,
    /// Refused: the check-and-set index or the lock did not match. Carries the variable as it
    /// is (none when it does not exist).
    Conflict(Option<Arc<EncryptedVariable>>),
}

#[derive(Clone, Default)]
pub struct VariableTable {
    pub(crate) by_key: OrdMap<VarKey, Arc<EncryptedVariable>>,
    pub(crate) root_keys: OrdMap<String, RootKeyMeta>,
    pub(crate) index: u64,
}

impl Tables {
    pub fn variable(&self, ns: &str, path: &str) -> Option<Arc<EncryptedVariable>> {
        self.variables
            .by_key
            .get(&(ns.to_string(), path.to_string()))
            .cloned()
    }

    /// Variables in `ns` (every namespace for `*`) whose path starts with `prefix`, by
    /// namespace and path.
    pub fn variables_with_prefix<'a>(
        &'a self,
        ns: &'a str,
        prefix: &'a str,
    ) -> impl Iterator<Item = &'a Arc<EncryptedVariable>> + 'a {
        self.variables
            .by_key
            .iter()
            .filter(move |((n, p), _)| (ns == "*" || n == ns) && p.starts_with(prefix))
            .map(|(_, v)| v)
    }

    /// Every locked variable (a new leader restarts their TTL timers).
    pub fn locked_variables(&self) -> impl Iterator<Item = &Arc<EncryptedVariable>> {
        self.variables.by_key.values().filter(|v| v.lock.is_some())
    }

    pub fn variables_index(&self) -> u64 {
        self.variables.index
    }

    pub fn root_keys(&self) -> impl Iterator<Item = &RootKeyMeta> {
        self.variables.root_keys.values()
    }

    pub fn active_root_key(&self) -> Option<&RootKeyMeta> {
        self.variables.root_keys.values().find(|k| k.active)
    }

    pub(super) fn apply_root_key_upsert(&mut self, key: &RootKeyMeta) -> ApplyResult {
        if key.active {
            // One active key at a time: the new one replaces the old for new writes.
            let old: Vec<String> = self.variables.root_keys.keys().cloned().collect();
            for id in old {
                if let Some(k) = self.variables.root_keys.get_mut(&id) {
                    k.active = false;
                }
            }
        }
        self.variables
            .root_keys
            .insert(key.key_id.clone(), key.clone());
        ApplyResult::default()
    }

    pub(super) fn apply_var_write(&mut self, index: u64, w: &VarWrite) -> ApplyResult {
        let key = w.var.key();
        let current = self.variables.by_key.get(&key).cloned();
        let conflict = || ApplyResult {
            variable: Some(VarOutcome::Conflict(current.clone())),
            ..Default::default()
        };
        let cas_ok = match (w.cas, &current) {
            (None, _) => true,
            (Some(0), cur) => cur.is_none(),
            (Some(i), Some(cur)) => cur.modify_index == i,
            (Some(_), None) => false,
        };
        if !cas_ok {
            return conflict();
        }
        let held = current.as_ref().and_then(|c| c.lock.as_ref());
        let holds_lock = |id: &Option<String>| held.is_some_and(|l| id.as_deref() == Some(&l.id));
        let outcome = match w.op {
            VarOp::Set | VarOp::Delete if held.is_some() && !holds_lock(&w.lock_id) => {
                return conflict()
            }
            VarOp::LockAcquire if held.is_some() => return conflict(),
            VarOp::LockRelease if !holds_lock(&w.lock_id) => return conflict(),
            VarOp::Delete => {
                if current.is_none() {
                    // Deleting what is not there succeeds, as in Nomad.
                    return ApplyResult {
                        variable: Some(VarOutcome::Deleted),
                        ..Default::default()
                    };
                }
                self.variables.by_key.remove(&key);
                VarOutcome::Deleted
            }
            VarOp::Set | VarOp::LockAcquire | VarOp::LockRelease => {
                let mut v = w.var.clone();
                v.modify_index = index;
                v.modify_time = w.now;
                match &current {
                    Some(cur) => {
                        v.create_index = cur.create_index;
                        v.create_time = cur.create_time;
                    }
                    None => {
                        v.create_index = index;
                        v.create_time = w.now;
                    }
                }
                let keep =
                    w.op == VarOp::LockRelease || (w.op == VarOp::LockAcquire && w.keep_items);
                if let (true, Some(cur)) = (keep, &current) {
                    v.key_id = cur.key_id.clone();
                    v.data = cur.data.clone();
                }
                v.lock = match w.op {
                    VarOp::Set => current.as_ref().and_then(|c| c.lock.clone()),
                    VarOp::LockAcquire => w.var.lock.clone(),
                    _ => None,
                };
                let v = Arc::new(v);
                self.variables.by_key.insert(key, v.clone());
                VarOutcome::Written(v)
            }
        };
        self.variables.index = index;
        ApplyResult {
            variable: Some(outcome),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::variable::VariableLock;

    fn write(op: VarOp, path: &str, data: &[u8], cas: Option<u64>, lock: Option<&str>) -> VarWrite {
        VarWrite {
            op,
            var: EncryptedVariable {
                namespace: "default".into(),
                path: path.into(),
                create_index: 0,
                modify_index: 0,
                create_time: 0,
                modify_time: 0,
                key_id: "k1".into(),
                data: data.to_vec(),
                lock: (op == VarOp::LockAcquire).then(|| VariableLock {
                    id: "L1".into(),
                    ttl: "15s".into(),
                    lock_delay: "15s".into(),
                }),
            },
            cas,
            lock_id: lock.map(String::from),
            keep_items: data.is_empty(),
            now: 100,
        }
    }

    fn outcome(r: ApplyResult) -> VarOutcome {
        r.variable.expect("a variable outcome")
    }

    #[test]
    fn check_and_set_orders_racing_writers() {
        let mut t = Tables::default();
        // cas=0 creates only what does not exist.
        assert!(matches!(
            outcome(t.apply_var_write(5, &write(VarOp::Set, "a", b"x", Some(0), None))),
            VarOutcome::Written(v) if v.create_index == 5 && v.modify_index == 5
        ));
        assert!(matches!(
            outcome(t.apply_var_write(6, &write(VarOp::Set, "a", b"y", Some(0), None))),
            VarOutcome::Conflict(Some(v)) if v.data == b"x"
        ));
        // Two writers that both read index 5: the first wins, the second conflicts.
        assert!(matches!(
            outcome(t.apply_var_write(7, &write(VarOp::Set, "a", b"w1", Some(5), None))),
            VarOutcome::Written(v) if v.create_index == 5 && v.modify_index == 7
        ));
        assert!(matches!(
            outcome(t.apply_var_write(8, &write(VarOp::Set, "a", b"w2", Some(5), None))),
            VarOutcome::Conflict(Some(v)) if v.data == b"w1"
        ));
        assert!(matches!(
            outcome(t.apply_var_write(9, &write(VarOp::Set, "b", b"z", Some(3), None))),
            VarOutcome::Conflict(None)
        ));
        assert!(matches!(
            outcome(t.apply_var_write(10, &write(VarOp::Delete, "a", b"", Some(5), None))),
            VarOutcome::Conflict(Some(_))
        ));
        assert!(matches!(
            outcome(t.apply_var_write(11, &write(VarOp::Delete, "a", b"", Some(7), None))),
            VarOutcome::Deleted
        ));
        assert!(t.variable("default", "a").is_none());
        assert_eq!(t.variables_index(), 11);
    }

    #[test]
    fn a_lock_guards_writes_until_released() {
        let mut t = Tables::default();
        t.apply_var_write(2, &write(VarOp::Set, "l", b"v1", None, None));
        let acquired =
            outcome(t.apply_var_write(3, &write(VarOp::LockAcquire, "l", b"", None, None)));
        let VarOutcome::Written(v) = acquired else {
            panic!("lock refused")
        };
        assert_eq!(v.data, b"v1", "an acquire without items keeps them");
        assert_eq!(v.lock.as_ref().unwrap().id, "L1");
        for denied in [
            write(VarOp::Set, "l", b"x", None, None),
            write(VarOp::Set, "l", b"x", None, Some("other")),
            write(VarOp::Delete, "l", b"", None, None),
            write(VarOp::LockAcquire, "l", b"", None, None),
            write(VarOp::LockRelease, "l", b"", None, Some("other")),
        ] {
            assert!(matches!(
                outcome(t.apply_var_write(4, &denied)),
                VarOutcome::Conflict(Some(_))
            ));
        }
        let VarOutcome::Written(v) =
            outcome(t.apply_var_write(5, &write(VarOp::Set, "l", b"v2", None, Some("L1"))))
        else {
            panic!("the holder may write")
        };
        assert!(v.lock.is_some(), "a write keeps the lock");
        let VarOutcome::Written(v) =
            outcome(t.apply_var_write(6, &write(VarOp::LockRelease, "l", b"", None, Some("L1"))))
        else {
            panic!("the holder may release")
        };
        assert!(v.lock.is_none());
        assert_eq!(v.data, b"v2", "a release keeps the items");
        assert!(matches!(
            outcome(t.apply_var_write(7, &write(VarOp::Set, "l", b"v3", None, None))),
            VarOutcome::Written(_)
        ));
    }

    #[test]
    fn one_root_key_is_active() {
        let mut t = Tables::default();
        let key = |id: &str| RootKeyMeta {
            key_id: id.into(),
            algorithm: "aes256-gcm".into(),
            create_time: 1,
            active: true,
        };
        t.apply_root_key_upsert(&key("a"));
        t.apply_root_key_upsert(&key("b"));
        assert_eq!(t.active_root_key().unwrap().key_id, "b");
        assert_eq!(t.root_keys().count(), 2);
    }
}
