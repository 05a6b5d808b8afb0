//! Parents and their children, kept beside the job table: the periodic jobs the leader times,
//! and each periodic or parameterized job's launched children. Without them the leader's
//! periodic loop, a launch's overlap check and every parent's children summary walked every
//! job, every half second for the loop.

use super::tables::{JobKey, Tables};
use api::Job;
use imbl::{OrdMap, OrdSet};
use std::sync::Arc;

#[derive(Clone, Default)]
pub struct JobFamilies {
    /// Periodic jobs that are not children themselves (stopped ones included).
    periodic: OrdSet<JobKey>,
    /// (namespace, parent id) -> child ids.
    children: OrdMap<JobKey, OrdSet<String>>,
}

impl JobFamilies {
    pub(super) fn add(&mut self, job: &Job) {
        let key = (job.namespace.clone(), job.id.clone());
        if job.periodic.is_some() && job.parent_id.is_empty() {
            self.periodic.insert(key);
        } else {
            self.periodic.remove(&key);
        }
        if !job.parent_id.is_empty() {
            self.children
                .entry((job.namespace.clone(), job.parent_id.clone()))
                .or_default()
                .insert(job.id.clone());
        }
    }

    pub(super) fn remove(&mut self, job: &Job) {
        self.periodic
            .remove(&(job.namespace.clone(), job.id.clone()));
        if job.parent_id.is_empty() {
            return;
        }
        let parent = (job.namespace.clone(), job.parent_id.clone());
        if let Some(set) = self.children.get_mut(&parent) {
            set.remove(&job.id);
            if set.is_empty() {
                self.children.remove(&parent);
            }
        }
    }
}

impl Tables {
    /// Every periodic job that is not itself a child.
    pub fn periodic_jobs(&self) -> Vec<Arc<Job>> {
        self.families
            .periodic
            .iter()
            .filter_map(|k| self.jobs.get(k).cloned())
            .collect()
    }

    /// The children a periodic or parameterized job launched.
    pub fn children_of(&self, namespace: &str, parent_id: &str) -> Vec<Arc<Job>> {
        self.families
            .children
            .get(&(namespace.to_string(), parent_id.to_string()))
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| self.jobs.get(&(namespace.to_string(), id.clone())).cloned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periodic_parents_and_children_are_indexed() {
        let mut f = JobFamilies::default();
        let parent = Job {
            id: "nightly".into(),
            periodic: Some(Default::default()),
            ..Default::default()
        };
        let child = Job {
            id: "nightly/periodic-1".into(),
            parent_id: "nightly".into(),
            ..Default::default()
        };
        f.add(&parent);
        f.add(&child);
        assert_eq!(f.periodic.len(), 1);
        assert_eq!(f.children.values().map(|s| s.len()).sum::<usize>(), 1);
        f.remove(&child);
        assert!(f.children.is_empty());
        // A new version without a schedule is no longer periodic.
        f.add(&Job {
            periodic: None,
            ..parent.clone()
        });
        assert!(f.periodic.is_empty());
    }
}
