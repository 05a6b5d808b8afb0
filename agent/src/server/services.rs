//! The service catalog's endpoints: clients write their registrations (one by one as tasks start,
//! stop and change health, or all at once to reconcile after losing the servers), operators
//! delete one, and renderers watch the whole catalog with blocking queries.

use super::{Server, ServerError};
use crate::rpc::{Catalog, CatalogNode};
use crate::state::{Command, Table, Tables};
use api::ServiceRegistration;
use std::collections::BTreeMap;
use std::time::Duration;

/// A registration must be complete enough to route to and to clean up after.
fn check_registration(r: &ServiceRegistration) -> Result<(), ServerError> {
    let missing = [
        ("ID", &r.id),
        ("ServiceName", &r.service_name),
        ("Namespace", &r.namespace),
        ("NodeID", &r.node_id),
        ("AllocID", &r.alloc_id),
        ("JobID", &r.job_id),
    ]
    .iter()
    .find(|(_, v)| v.is_empty())
    .map(|(k, _)| *k);
    match missing {
        Some(k) => Err(ServerError::Invalid(format!(
            "service registration {:?} has no {k}",
            r.id
        ))),
        None => Ok(()),
    }
}

impl Server {
    /// Writes registrations and deletes others by id, in one raft entry. Nothing is written when
    /// nothing would change (a client repeating itself costs no raft write).
    pub async fn service_update(
        &self,
        upsert: Vec<ServiceRegistration>,
        delete: Vec<String>,
    ) -> Result<u64, ServerError> {
        for r in &upsert {
            check_registration(r)?;
        }
        let (upsert, delete, index) = self.state.read(|t| {
            let upsert: Vec<ServiceRegistration> = upsert
                .into_iter()
                .filter(|r| {
                    t.service_registration(&r.id)
                        .is_none_or(|cur| !cur.same_content(r))
                })
                .collect();
            let delete: Vec<String> = delete
                .into_iter()
                .filter(|id| t.service_registration(id).is_some())
                .collect();
            (upsert, delete, t.index)
        });
        if upsert.is_empty() && delete.is_empty() {
            return Ok(index);
        }
        let (index, _) = self
            .raft
            .apply(Command::ServiceUpdate { upsert, delete })
            .await
            .map_err(ServerError::Raft)?;
        Ok(index)
    }

    /// Makes the catalog hold exactly `registrations` for `node_id`: adds what is missing,
    /// rewrites what differs, drops what the client no longer has.
    pub async fn service_sync(
        &self,
        node_id: &str,
        registrations: Vec<ServiceRegistration>,
    ) -> Result<u64, ServerError> {
        if let Some(r) = registrations.iter().find(|r| r.node_id != node_id) {
            return Err(ServerError::Invalid(format!(
                "node {node_id} cannot register {:?} of node {}",
                r.id, r.node_id
            )));
        }
        let wanted: BTreeMap<&str, &ServiceRegistration> =
            registrations.iter().map(|r| (r.id.as_str(), r)).collect();
        let stale: Vec<String> = self.state.read(|t| {
            t.services_for_node(node_id)
                .iter()
                .filter(|r| !wanted.contains_key(r.id.as_str()))
                .map(|r| r.id.clone())
                .collect()
        });
        self.service_update(registrations, stale).await
    }

    /// `DELETE /v1/service/:name/:id`.
    pub async fn service_delete(
        &self,
        namespace: &str,
        name: &str,
        id: &str,
    ) -> Result<u64, ServerError> {
        let found = self.state.read(|t| {
            t.service_registration(id)
                .is_some_and(|r| r.namespace == namespace && r.service_name == name)
        });
        if !found {
            return Err(ServerError::NotFound(format!(
                "service registration {id:?} of service {name:?} not found"
            )));
        }
        self.service_update(Vec::new(), vec![id.to_string()]).await
    }

    /// Blocking query for renderers: every registration and node, once either table passes
    /// `min_index` (at once for 0) or `wait` elapses.
    pub async fn catalog(&self, min_index: u64, wait: Duration) -> Catalog {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let (catalog_index, seen) = self.state.read(|t| (catalog_index(t), t.index));
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            if min_index == 0 || catalog_index > min_index || remaining.is_zero() {
                return self.state.read(catalog_of);
            }
            // Other tables move the state's index too: wait for any apply, then look again.
            if !self.state.wait_for_index(seen + 1, remaining).await {
                return self.state.read(catalog_of);
            }
        }
    }
}

fn catalog_index(t: &Tables) -> u64 {
    t.table_index(Table::Services)
        .max(t.table_index(Table::Nodes))
}

fn catalog_of(t: &Tables) -> Catalog {
    Catalog {
        services: t.service_registrations().map(|r| (**r).clone()).collect(),
        nodes: t
            .nodes()
            .map(|n| CatalogNode {
                id: n.id.clone(),
                name: n.name.clone(),
                address: n.address(),
                datacenter: n.datacenter.clone(),
                node_class: n.node_class.clone(),
                status: n.status.clone(),
                meta: n.meta.clone(),
            })
            .collect(),
        index: catalog_index(t).max(1),
    }
}
