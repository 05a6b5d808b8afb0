//! What a template sees: the catalog turned into `services` (each name to its healthy
//! instances), `nodes`, the local node's `meta`, and the functions `service(name, tag=none,
//! include_unhealthy=false)` and `env(name)`. Instances come sorted, so the same catalog always
//! renders the same bytes.

use crate::rpc::Catalog;
use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, Error, ErrorKind};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, Serialize)]
pub struct Instance {
    pub id: String,
    pub name: String,
    pub address: String,
    pub port: i64,
    pub tags: Vec<String>,
    pub meta: BTreeMap<String, String>,
    /// The node's name (`node_id` is its id).
    pub node: String,
    pub node_id: String,
    pub alloc_id: String,
    pub job: String,
    pub namespace: String,
    pub datacenter: String,
    /// passing, warning, critical, or empty without checks.
    pub check_status: String,
    pub healthy: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeView {
    pub id: String,
    pub name: String,
    pub address: String,
    pub datacenter: String,
    pub class: String,
    pub status: String,
    pub meta: BTreeMap<String, String>,
}

/// The catalog as templates see it, built once per render.
pub struct View {
    /// Every registered service name, with all its instances (healthy or not), sorted.
    all: BTreeMap<String, Vec<Instance>>,
    nodes: Vec<NodeView>,
    local_meta: BTreeMap<String, String>,
}

impl View {
    pub fn new(catalog: &Catalog, local_meta: &BTreeMap<String, String>) -> View {
        let node_names: BTreeMap<&str, &str> = catalog
            .nodes
            .iter()
            .map(|n| (n.id.as_str(), n.name.as_str()))
            .collect();
        let mut all: BTreeMap<String, Vec<Instance>> = BTreeMap::new();
        for r in &catalog.services {
            all.entry(r.service_name.clone())
                .or_default()
                .push(Instance {
                    id: r.id.clone(),
                    name: r.service_name.clone(),
                    address: r.address.clone(),
                    port: r.port,
                    tags: r.tags.clone(),
                    meta: r.meta.clone(),
                    node: node_names
                        .get(r.node_id.as_str())
                        .map(|s| s.to_string())
                        .unwrap_or_default(),
                    node_id: r.node_id.clone(),
                    alloc_id: r.alloc_id.clone(),
                    job: r.job_id.clone(),
                    namespace: r.namespace.clone(),
                    datacenter: r.datacenter.clone(),
                    check_status: r.check_status.clone(),
                    healthy: r.healthy(),
                });
        }
        for instances in all.values_mut() {
            instances.sort_by(|a, b| (&a.address, a.port, &a.id).cmp(&(&b.address, b.port, &b.id)));
        }
        let mut nodes: Vec<NodeView> = catalog
            .nodes
            .iter()
            .map(|n| NodeView {
                id: n.id.clone(),
                name: n.name.clone(),
                address: n.address.clone(),
                datacenter: n.datacenter.clone(),
                class: n.node_class.clone(),
                status: n.status.clone(),
                meta: n.meta.clone(),
            })
            .collect();
        nodes.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        View {
            all,
            nodes,
            local_meta: local_meta.clone(),
        }
    }

    /// `services`: each registered name to its healthy instances (an empty list when none is).
    fn healthy_map(&self) -> BTreeMap<&str, Vec<&Instance>> {
        self.all
            .iter()
            .map(|(name, list)| (name.as_str(), list.iter().filter(|i| i.healthy).collect()))
            .collect()
    }

    fn lookup(&self, name: &str, tag: Option<&str>, include_unhealthy: bool) -> Vec<&Instance> {
        self.all
            .get(name)
            .map(|list| {
                list.iter()
                    .filter(|i| include_unhealthy || i.healthy)
                    .filter(|i| tag.is_none_or(|t| i.tags.iter().any(|x| x == t)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The variables of the render.
    pub fn context(&self) -> Value {
        minijinja::context! {
            services => Value::from_serialize(self.healthy_map()),
            nodes => Value::from_serialize(&self.nodes),
            meta => Value::from_serialize(&self.local_meta),
        }
    }

    /// Adds `service()` and `env()` to `env`, reading this view.
    pub fn install(self: &Arc<Self>, env: &mut Environment<'_>) {
        let view = self.clone();
        env.add_function(
            "service",
            move |name: String, tag: Option<String>, kwargs: Kwargs| -> Result<Value, Error> {
                let tag = match kwargs.get::<Option<String>>("tag")? {
                    Some(t) => Some(t),
                    None => tag,
                };
                let include_unhealthy = kwargs
                    .get::<Option<bool>>("include_unhealthy")?
                    .unwrap_or(false);
                kwargs.assert_all_used()?;
                Ok(Value::from_serialize(view.lookup(
                    &name,
                    tag.as_deref(),
                    include_unhealthy,
                )))
            },
        );
        env.add_function("env", |name: String| -> Result<String, Error> {
            if name.is_empty() {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    "env() needs the name of a variable",
                ));
            }
            Ok(std::env::var(name).unwrap_or_default())
        });
    }
}
