//! `/v1/services` and `/v1/service/:name`: Nomad's native service discovery API.

use super::{json_indexed, read_blocking, HttpError, HttpState};
use crate::state::Table;
use api::{ServiceNameStub, ServiceRegistration, ServiceRegistrationListStub};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use std::collections::{BTreeMap, BTreeSet, HashMap};

type Q = Query<HashMap<String, String>>;

/// `?namespace=*` lists every namespace.
fn in_namespace(wanted: &str, ns: &str) -> bool {
    wanted == "*" || wanted == ns
}

/// Every service name per namespace, with the union of its instances' tags.
pub async fn list(State(st): State<HttpState>, Query(q): Q) -> Result<Response, HttpError> {
    read_blocking(&st, q, Table::Services, |snap, q| {
        let mut by_ns: BTreeMap<&str, BTreeMap<&str, BTreeSet<&str>>> = BTreeMap::new();
        for r in snap.service_registrations() {
            if !in_namespace(&q.namespace, &r.namespace) {
                continue;
            }
            by_ns
                .entry(&r.namespace)
                .or_default()
                .entry(&r.service_name)
                .or_default()
                .extend(r.tags.iter().map(String::as_str));
        }
        let out: Vec<ServiceRegistrationListStub> = by_ns
            .into_iter()
            .map(|(ns, services)| ServiceRegistrationListStub {
                namespace: ns.to_string(),
                services: services
                    .into_iter()
                    .map(|(name, tags)| ServiceNameStub {
                        service_name: name.to_string(),
                        tags: tags.into_iter().map(str::to_string).collect(),
                    })
                    .collect(),
            })
            .filter(|stub| q.keep(stub))
            .collect();
        Ok((out, snap.table_index(Table::Services)))
    })
    .await
}

/// The instances of one service, optionally only those carrying `?tag=`.
pub async fn read(
    State(st): State<HttpState>,
    Path(name): Path<String>,
    Query(q): Q,
) -> Result<Response, HttpError> {
    read_blocking(&st, q, Table::Services, |snap, q| {
        let tag = q.get("tag").filter(|t| !t.is_empty());
        let instances = if q.namespace == "*" {
            snap.service_registrations()
                .filter(|r| r.service_name == name)
                .cloned()
                .collect()
        } else {
            snap.services_by_name(&q.namespace, &name)
        };
        let out: Vec<ServiceRegistration> = instances
            .into_iter()
            .filter(|r| tag.is_none_or(|t| r.tags.iter().any(|x| x == t)))
            .filter(|r| q.keep(&**r))
            .map(|r| (*r).clone())
            .collect();
        Ok((out, snap.table_index(Table::Services)))
    })
    .await
}

pub async fn delete(
    State(st): State<HttpState>,
    Path((name, id)): Path<(String, String)>,
    Query(q): Q,
) -> Result<Response, HttpError> {
    let server = st.server()?;
    let namespace = q
        .get("namespace")
        .filter(|n| !n.is_empty())
        .map_or("default", String::as_str);
    let index = server.service_delete(namespace, &name, &id).await?;
    Ok(json_indexed(&serde_json::json!({}), index))
}
