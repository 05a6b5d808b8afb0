//! Nomad Variables on the servers: reads open the sealed items with the keyring, writes seal
//! them before they reach the log, check-and-set and lock ownership are decided when the write
//! applies (`state::variables`), and the leader keeps the locks' TTLs (`locks`).

pub mod keyring;
mod locks;
mod workload;

pub use keyring::Keyring;
pub use locks::LockTimers;

use super::{new_id, now_nanos, Server, ServerError};
use crate::rpc::{RpcRequest, RpcResponse};
use crate::state::variables::{EncryptedVariable, RootKeyMeta, VarOp, VarOutcome, VarWrite};
use crate::state::Command;
use api::variable::{LockOperation, Variable};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long a server waits for a peer to hand over a key it lacks.
const KEY_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// How often every server looks for keys the state names and it lacks.
const KEY_REPLICATION_INTERVAL: Duration = Duration::from_secs(2);

/// What a variable write asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarRequestOp {
    Set,
    Delete,
    Lock(LockOperation),
}

/// How a variable write ended.
#[derive(Debug)]
pub enum VarReply {
    /// The variable as written, or as renewed (then without items).
    Done(Variable),
    /// Deleted (or was not there), at this raft index.
    Deleted(u64),
    /// Refused by check-and-set or a lock: the variable as it is, if it exists.
    Conflict(Option<Variable>),
}

/// What sealed items are bound to: their namespace and path.
fn aad(ns: &str, path: &str) -> Vec<u8> {
    format!("{ns}\0{path}").into_bytes()
}

impl Server {
    /// A stored variable with its items opened.
    pub async fn var_open(&self, v: &EncryptedVariable) -> Result<Variable, ServerError> {
        self.ensure_key(&v.key_id).await?;
        let what = format!("{}/{}", v.namespace, v.path);
        let plain = self
            .keyring
            .open(&v.key_id, &aad(&v.namespace, &v.path), &v.data, &what)
            .map_err(|e| ServerError::Unavailable(e.to_string()))?;
        let items: BTreeMap<String, String> = serde_json::from_slice(&plain).map_err(|e| {
            ServerError::Unavailable(format!("variable {what:?} holds unreadable items: {e}"))
        })?;
        let meta = v.metadata();
        Ok(Variable {
            namespace: meta.namespace,
            path: meta.path,
            create_index: meta.create_index,
            modify_index: meta.modify_index,
            create_time: meta.create_time,
            modify_time: meta.modify_time,
            items,
            lock: meta.lock,
        })
    }

    /// Writes, deletes, locks or unlocks a variable (leader only: the HTTP layer relays).
    pub async fn var_write(
        &self,
        op: VarRequestOp,
        mut var: Variable,
        cas: Option<u64>,
    ) -> Result<VarReply, ServerError> {
        api::variable::validate_path(&var.path).map_err(ServerError::Invalid)?;
        if !self.state.read(|t| t.namespace_exists(&var.namespace)) {
            return Err(ServerError::Invalid(format!(
                "namespace {:?} does not exist: create it with `nomadctl namespace apply`",
                var.namespace
            )));
        }
        let key = (var.namespace.clone(), var.path.clone());
        let lock_id = var
            .lock
            .as_ref()
            .map(|l| l.id.clone())
            .filter(|id| !id.is_empty());
        let mut keep_items = false;
        let state_op = match op {
            VarRequestOp::Set => {
                if var.items.is_empty() {
                    return Err(ServerError::Invalid(
                        "variable has no Items: give at least one key and value".into(),
                    ));
                }
                VarOp::Set
            }
            VarRequestOp::Delete => VarOp::Delete,
            VarRequestOp::Lock(LockOperation::Renew) => return self.var_lock_renew(var, lock_id),
            VarRequestOp::Lock(LockOperation::Release) => {
                if !var.items.is_empty() {
                    return Err(ServerError::Invalid(
                        "a lock release does not change items: send none".into(),
                    ));
                }
                if lock_id.is_none() {
                    return Err(ServerError::Invalid("a lock release needs Lock.ID".into()));
                }
                VarOp::LockRelease
            }
            VarRequestOp::Lock(LockOperation::Acquire) => {
                let requested = var.lock.clone().unwrap_or_default();
                let (ttl, delay) = requested.durations().map_err(ServerError::Invalid)?;
                if let Some(left) = self.var_locks.delayed_for(&key) {
                    tracing::debug!(?left, path = %var.path, "variable lock still in its delay");
                    let current = self.state.read(|t| t.variable(&key.0, &key.1));
                    return Ok(VarReply::Conflict(self.open_opt(current).await?));
                }
                var.lock = Some(api::variable::VariableLock {
                    id: new_id(),
                    ttl: api::duration::format_duration(ttl),
                    lock_delay: api::duration::format_duration(delay),
                });
                keep_items = var.items.is_empty();
                VarOp::LockAcquire
            }
        };
        api::variable::validate_items(&var).map_err(ServerError::Invalid)?;
        let key_id = self.active_key_id().await?;
        let plain = serde_json::to_vec(&var.items)
            .map_err(|e| ServerError::Invalid(format!("variable items: {e}")))?;
        let data = self
            .keyring
            .seal(&key_id, &aad(&var.namespace, &var.path), &plain)
            .map_err(|e| ServerError::Unavailable(e.to_string()))?;
        let write = VarWrite {
            op: state_op,
            var: EncryptedVariable {
                namespace: var.namespace,
                path: var.path,
                create_index: 0,
                modify_index: 0,
                create_time: 0,
                modify_time: 0,
                key_id,
                data,
                lock: var.lock,
            },
            cas,
            lock_id,
            keep_items,
            now: now_nanos(),
        };
        let (index, res) = self
            .raft
            .apply(Command::VarWrite(Box::new(write)))
            .await
            .map_err(ServerError::Raft)?;
        match res.variable {
            Some(VarOutcome::Written(v)) => {
                match (&v.lock, state_op) {
                    (Some(l), VarOp::LockAcquire) => {
                        let ttl = api::duration::parse_duration(&l.ttl)
                            .unwrap_or(api::variable::LOCK_DEFAULT);
                        self.var_locks.hold(key, l.id.clone(), ttl);
                    }
                    (None, VarOp::LockRelease) => self.var_locks.release(&key),
                    _ => {}
                }
                Ok(VarReply::Done(self.var_open(&v).await?))
            }
            Some(VarOutcome::Deleted) => {
                self.var_locks.release(&key);
                Ok(VarReply::Deleted(index))
            }
            Some(VarOutcome::Conflict(current)) => {
                Ok(VarReply::Conflict(self.open_opt(current).await?))
            }
            None => Err(ServerError::Unavailable(
                "the variable write was applied without an outcome".into(),
            )),
        }
    }

    /// A renewal restarts the lock's TTL on the leader; nothing is written to the log.
    fn var_lock_renew(
        &self,
        var: Variable,
        lock_id: Option<String>,
    ) -> Result<VarReply, ServerError> {
        let Some(lock_id) = lock_id else {
            return Err(ServerError::Invalid("a lock renewal needs Lock.ID".into()));
        };
        let key = (var.namespace.clone(), var.path.clone());
        let current = self.state.read(|t| t.variable(&key.0, &key.1));
        let holds = current
            .as_ref()
            .and_then(|c| c.lock.as_ref())
            .is_some_and(|l| l.id == lock_id);
        match current {
            Some(c) if holds && self.var_locks.renew(&key, &lock_id) => {
                // Metadata only: a renewal never shows the items.
                Ok(VarReply::Done(meta_only(&c)))
            }
            current => Ok(VarReply::Conflict(current.map(|c| meta_only(&c)))),
        }
    }

    async fn open_opt(
        &self,
        v: Option<Arc<EncryptedVariable>>,
    ) -> Result<Option<Variable>, ServerError> {
        match v {
            Some(v) => Ok(Some(self.var_open(&v).await?)),
            None => Ok(None),
        }
    }

    /// The active key's id; the first write of a new cluster makes one if the leader has not
    /// yet.
    async fn active_key_id(&self) -> Result<String, ServerError> {
        if let Some(k) = self.state.read(|t| t.active_root_key().cloned()) {
            self.ensure_key(&k.key_id).await?;
            return Ok(k.key_id);
        }
        self.create_root_key().await
    }

    /// Makes the cluster's first key (leader only): stored here, then its metadata committed.
    /// A lock keeps two first writes from making two keys.
    pub(super) async fn create_root_key(&self) -> Result<String, ServerError> {
        let _one_at_a_time = self.keyring_lock.lock().await;
        if let Some(k) = self.state.read(|t| t.active_root_key().cloned()) {
            return Ok(k.key_id);
        }
        let id = self
            .keyring
            .generate()
            .map_err(|e| ServerError::Unavailable(e.to_string()))?;
        let key = RootKeyMeta {
            key_id: id.clone(),
            algorithm: keyring::ALGORITHM.into(),
            create_time: now_nanos(),
            active: true,
        };
        self.raft
            .apply(Command::RootKeyUpsert { key })
            .await
            .map_err(ServerError::Raft)?;
        tracing::info!(key_id = %id, "created the keyring's root key");
        Ok(id)
    }

    /// Fetches key `id` from the leader or another server when this one lacks it.
    async fn ensure_key(&self, id: &str) -> Result<(), ServerError> {
        if self.keyring.has(id) {
            return Ok(());
        }
        let mut peers: Vec<String> = self.leader().map(|l| l.rpc_addr).into_iter().collect();
        for p in self.raft_configuration().0 {
            if p.info.id != self.cfg.info.id && !peers.contains(&p.info.rpc_addr) {
                peers.push(p.info.rpc_addr);
            }
        }
        let mut why = format!("no server to ask for keyring key {id}");
        for addr in peers {
            if addr == self.cfg.info.rpc_addr {
                continue;
            }
            let req = RpcRequest::KeyringGet {
                key_id: id.to_string(),
            };
            match self.rpc.call(&addr, req, KEY_FETCH_TIMEOUT).await {
                Ok(RpcResponse::Key(Ok(bytes))) => {
                    self.keyring
                        .store(id, &bytes)
                        .map_err(|e| ServerError::Unavailable(e.to_string()))?;
                    tracing::info!(key_id = %id, from = %addr, "keyring key replicated");
                    return Ok(());
                }
                Ok(RpcResponse::Key(Err(e))) => why = format!("{addr}: {e}"),
                Ok(_) => why = format!("{addr}: unexpected reply to a key request"),
                Err(e) => why = format!("{addr}: {e}"),
            }
        }
        Err(ServerError::Unavailable(format!(
            "keyring key {id} is not on this server and could not be fetched ({why})"
        )))
    }

    /// Every server: fetches the keys the state names that it lacks, so that it can open
    /// variables when it leads or answers a stale read.
    pub(super) async fn keyring_replication_loop(self: Arc<Self>) {
        let mut shutdown = self.shutdown_rx();
        loop {
            let missing: Vec<String> = self.state.read(|t| {
                t.root_keys()
                    .map(|k| k.key_id.clone())
                    .filter(|id| !self.keyring.has(id))
                    .collect()
            });
            for id in missing {
                if let Err(e) = self.ensure_key(&id).await {
                    tracing::debug!(%e, "keyring replication will retry");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(KEY_REPLICATION_INTERVAL) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Leader duty: the first key of a new cluster, and the TTLs of held locks (restarted in
    /// full, as a new leader cannot know how much of them had passed).
    pub(super) async fn variable_duties(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        if let Err(e) = self.create_root_key().await {
            tracing::warn!(%e, "could not create the keyring's root key yet; the first write will");
        }
        let held: Vec<(String, String, String, Duration)> = self.state.read(|t| {
            t.locked_variables()
                .filter_map(|v| {
                    let l = v.lock.as_ref()?;
                    let ttl = api::duration::parse_duration(&l.ttl).ok()?;
                    Some((v.namespace.clone(), v.path.clone(), l.id.clone(), ttl))
                })
                .collect()
        });
        for (ns, path, id, ttl) in held {
            self.var_locks.hold((ns, path), id, ttl);
        }
        loop {
            let (lapsed, next) = self.var_locks.take_lapsed();
            for l in lapsed {
                self.lapse_lock(l).await;
            }
            let sleep = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = sleep => {}
                _ = self.var_locks.changed() => {}
                _ = stop.changed() => {
                    self.var_locks.clear();
                    return;
                }
            }
        }
    }

    /// Releases a lock whose TTL ran out and starts its delay.
    async fn lapse_lock(&self, l: locks::Lapsed) {
        let current = self.state.read(|t| t.variable(&l.key.0, &l.key.1));
        let Some(v) = current else { return };
        let delay = v
            .lock
            .as_ref()
            .and_then(|lk| api::duration::parse_duration(&lk.lock_delay).ok())
            .unwrap_or(api::variable::LOCK_DEFAULT);
        let write = VarWrite {
            op: VarOp::LockRelease,
            var: (*v).clone(),
            cas: None,
            lock_id: Some(l.lock_id.clone()),
            keep_items: true,
            now: now_nanos(),
        };
        match self.raft.apply(Command::VarWrite(Box::new(write))).await {
            Ok((_, res)) => {
                if matches!(res.variable, Some(VarOutcome::Written(_))) {
                    tracing::info!(path = %l.key.1, namespace = %l.key.0, "variable lock lapsed");
                    self.var_locks.delay(l.key, delay);
                }
            }
            Err(e) => {
                tracing::warn!(%e, path = %l.key.1, "could not release a lapsed lock; retrying");
                self.var_locks
                    .hold(l.key, l.lock_id, Duration::from_secs(1));
            }
        }
    }
}

/// A variable's metadata in a [`Variable`], items left out.
fn meta_only(v: &EncryptedVariable) -> Variable {
    let m = v.metadata();
    Variable {
        namespace: m.namespace,
        path: m.path,
        create_index: m.create_index,
        modify_index: m.modify_index,
        create_time: m.create_time,
        modify_time: m.modify_time,
        items: BTreeMap::new(),
        lock: m.lock,
    }
}
