//! Namespaces in the replicated state. `default` is never stored: it always exists, and is
//! answered as if it were.

use super::command::ApplyResult;
use super::tables::Tables;
use api::namespace::{Namespace, DEFAULT_NAMESPACE};
use imbl::OrdMap;
use std::sync::Arc;

#[derive(Clone, Default)]
pub struct NamespaceTable {
    pub(crate) by_name: OrdMap<String, Arc<Namespace>>,
    pub(crate) index: u64,
}

impl Tables {
    pub fn namespace(&self, name: &str) -> Option<Arc<Namespace>> {
        if name == DEFAULT_NAMESPACE {
            return Some(
                self.namespaces
                    .by_name
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| Arc::new(Namespace::default_namespace())),
            );
        }
        self.namespaces.by_name.get(name).cloned()
    }

    pub fn namespace_exists(&self, name: &str) -> bool {
        name == DEFAULT_NAMESPACE || self.namespaces.by_name.contains_key(name)
    }

    /// Every namespace, `default` included, by name.
    pub fn namespaces(&self) -> Vec<Arc<Namespace>> {
        let mut out: Vec<Arc<Namespace>> = self.namespaces.by_name.values().cloned().collect();
        if !self.namespaces.by_name.contains_key(DEFAULT_NAMESPACE) {
            out.push(Arc::new(Namespace::default_namespace()));
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    pub fn namespaces_index(&self) -> u64 {
        self.namespaces.index
    }

    pub(super) fn apply_namespace_upsert(&mut self, index: u64, list: &[Namespace]) -> ApplyResult {
        for ns in list {
            let mut ns = ns.clone();
            ns.create_index = self
                .namespaces
                .by_name
                .get(&ns.name)
                .map_or(index, |old| old.create_index);
            ns.modify_index = index;
            self.namespaces
                .by_name
                .insert(ns.name.clone(), Arc::new(ns));
        }
        self.namespaces.index = index;
        ApplyResult::default()
    }

    /// Refused whole when one of the names is `default` or still holds a job.
    pub(super) fn apply_namespace_delete(&mut self, index: u64, names: &[String]) -> ApplyResult {
        if let Some(why) = names.iter().find_map(|n| self.namespace_in_use(n)) {
            return ApplyResult {
                error: Some(why),
                ..Default::default()
            };
        }
        for n in names {
            self.namespaces.by_name.remove(n);
        }
        self.namespaces.index = index;
        ApplyResult::default()
    }

    /// Why `name` cannot be deleted now, if it cannot.
    pub fn namespace_in_use(&self, name: &str) -> Option<String> {
        if name == DEFAULT_NAMESPACE {
            return Some("the default namespace cannot be deleted".into());
        }
        let jobs = self.jobs.keys().filter(|(ns, _)| ns == name).count();
        (jobs > 0).then(|| {
            format!("namespace {name:?} still has {jobs} job(s): stop and purge them first")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_always_exists_and_in_use_namespaces_stay() {
        let mut t = Tables::default();
        assert!(t.namespace_exists("default"));
        assert_eq!(t.namespaces().len(), 1);
        let ns = Namespace {
            name: "team-a".into(),
            description: "A".into(),
            ..Default::default()
        };
        t.apply_namespace_upsert(3, std::slice::from_ref(&ns));
        assert_eq!(t.namespace("team-a").unwrap().create_index, 3);
        t.apply_namespace_upsert(5, &[ns]);
        let got = t.namespace("team-a").unwrap();
        assert_eq!((got.create_index, got.modify_index), (3, 5));
        let names: Vec<String> = t.namespaces().iter().map(|n| n.name.clone()).collect();
        assert_eq!(names, ["default", "team-a"]);
        assert!(t
            .apply_namespace_delete(6, &["default".into()])
            .error
            .is_some());
        t.jobs.insert(
            ("team-a".into(), "web".into()),
            Arc::new(api::Job {
                id: "web".into(),
                namespace: "team-a".into(),
                ..Default::default()
            }),
        );
        let refused = t.apply_namespace_delete(7, &["team-a".into()]);
        assert!(refused.error.unwrap().contains("1 job"));
        t.jobs.clear();
        assert!(t
            .apply_namespace_delete(8, &["team-a".into()])
            .error
            .is_none());
        assert!(!t.namespace_exists("team-a"));
    }
}
