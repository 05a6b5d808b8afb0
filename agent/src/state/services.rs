//! The service catalog table: registrations by id, with indexes by service name, allocation and
//! node. Clients write it (through raft); the state machine also drops the registrations of
//! allocations that stop, are lost or whose node goes down, so the catalog never lists an
//! instance the cluster knows is gone.

use super::events::Change;
use super::id_key::IdKey;
use super::tables::Tables;
use api::ServiceRegistration;
use imbl::OrdSet;
use std::sync::Arc;

impl Tables {
    pub fn service_registration(&self, id: &str) -> Option<Arc<ServiceRegistration>> {
        self.services.get(id).cloned()
    }

    /// Every registration, ordered by id.
    pub fn service_registrations(&self) -> impl Iterator<Item = &Arc<ServiceRegistration>> {
        self.services.values()
    }

    /// The instances of one service in a namespace.
    pub fn services_by_name(&self, namespace: &str, name: &str) -> Vec<Arc<ServiceRegistration>> {
        self.lookup(
            self.services_by_name
                .get(&(namespace.to_string(), name.to_string())),
        )
    }

    pub fn services_for_alloc(&self, alloc_id: &str) -> Vec<Arc<ServiceRegistration>> {
        self.lookup(self.services_by_alloc.get(alloc_id))
    }

    pub fn services_for_node(&self, node_id: &str) -> Vec<Arc<ServiceRegistration>> {
        self.lookup(self.services_by_node.get(node_id))
    }

    fn lookup(&self, ids: Option<&OrdSet<String>>) -> Vec<Arc<ServiceRegistration>> {
        ids.map(|ids| {
            ids.iter()
                .filter_map(|id| self.services.get(id).cloned())
                .collect()
        })
        .unwrap_or_default()
    }

    /// Whether a registration for this allocation may be (re)written: the allocation exists and
    /// neither side considers it finished. A late report of a stopped allocation must not bring
    /// its instance back.
    fn alloc_accepts_services(&self, alloc_id: &str) -> bool {
        self.allocs
            .get(&IdKey::new(alloc_id))
            .is_some_and(|a| !a.terminal())
    }

    /// Writes registrations (keeping each one's create index) and deletes others by id. Returns
    /// whether anything changed.
    pub(crate) fn update_services(
        &mut self,
        index: u64,
        upsert: &[ServiceRegistration],
        delete: &[String],
    ) -> bool {
        let mut changed = false;
        for id in delete {
            changed |= self.remove_service(id);
        }
        for r in upsert {
            if !self.alloc_accepts_services(&r.alloc_id) {
                continue;
            }
            let mut r = r.clone();
            match self.services.get(&r.id) {
                Some(prev) if prev.same_content(&r) => continue,
                Some(prev) => r.create_index = prev.create_index,
                None => r.create_index = index,
            }
            r.modify_index = index;
            self.put_service(r);
            changed = true;
        }
        if changed {
            self.services_index = index;
        }
        changed
    }

    /// Drops every registration of these allocations.
    pub(crate) fn remove_alloc_services<'a>(
        &mut self,
        index: u64,
        alloc_ids: impl IntoIterator<Item = &'a str>,
    ) {
        let ids: Vec<String> = alloc_ids
            .into_iter()
            .flat_map(|a| {
                self.services_by_alloc
                    .get(a)
                    .map(|s| s.iter().cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
            })
            .collect();
        self.update_services(index, &[], &ids);
    }

    /// Drops every registration of a node (it went down: its instances are unreachable).
    pub(crate) fn remove_node_services(&mut self, index: u64, node_id: &str) {
        let ids: Vec<String> = self
            .services_by_node
            .get(node_id)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        self.update_services(index, &[], &ids);
    }

    pub(crate) fn put_service(&mut self, r: ServiceRegistration) {
        if let Some(prev) = self.services.get(&r.id).cloned() {
            self.unindex_service(&prev);
        }
        self.services_by_name
            .entry((r.namespace.clone(), r.service_name.clone()))
            .or_default()
            .insert(r.id.clone());
        self.services_by_alloc
            .entry(r.alloc_id.clone())
            .or_default()
            .insert(r.id.clone());
        self.services_by_node
            .entry(r.node_id.clone())
            .or_default()
            .insert(r.id.clone());
        let r = Arc::new(r);
        self.changes.push(Change::Service(r.clone()));
        self.services.insert(r.id.clone(), r);
    }

    fn remove_service(&mut self, id: &str) -> bool {
        match self.services.remove(id) {
            Some(prev) => {
                self.unindex_service(&prev);
                self.changes.push(Change::ServiceRemoved(prev));
                true
            }
            None => false,
        }
    }

    fn unindex_service(&mut self, r: &ServiceRegistration) {
        let key = (r.namespace.clone(), r.service_name.clone());
        if let Some(set) = self.services_by_name.get_mut(&key) {
            set.remove(&r.id);
            if set.is_empty() {
                self.services_by_name.remove(&key);
            }
        }
        for (map, key) in [
            (&mut self.services_by_alloc, &r.alloc_id),
            (&mut self.services_by_node, &r.node_id),
        ] {
            if let Some(set) = map.get_mut(key) {
                set.remove(&r.id);
                if set.is_empty() {
                    map.remove(key);
                }
            }
        }
    }
}
