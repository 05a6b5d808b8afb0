//! Allocations with their jobs written once.
//!
//! An allocation shows the job version it runs (`Job`, as Nomad's API has it), but thousands of
//! allocations run the same version. In memory they share one `Arc<Job>`; wherever they are
//! encoded (raft commands, a client's allocation sync, snapshots) the jobs are taken out, written
//! once beside the allocations, and put back by (namespace, job id, version) on the other side.

use crate::alloc::Allocation;
use crate::job::Job;
use std::collections::HashMap;
use std::sync::Arc;

/// (namespace, job id, job version): how an allocation names the job it runs.
pub type JobVersionKey = (String, String, u64);

/// The job version `a` runs, as a key.
pub fn job_key(a: &Allocation) -> JobVersionKey {
    (a.namespace.clone(), a.job_id.clone(), a.job_version)
}

/// Takes the jobs out of `allocs` and returns each distinct job version once. An allocation
/// whose embedded job is not the version it names keeps it (it could not be put back by key).
pub fn detach_jobs<'a>(allocs: impl IntoIterator<Item = &'a mut Allocation>) -> Vec<Arc<Job>> {
    let mut seen: HashMap<JobVersionKey, usize> = HashMap::new();
    let mut jobs: Vec<Arc<Job>> = Vec::new();
    for a in allocs {
        let Some(job) = a.job.as_ref() else {
            continue;
        };
        if job.namespace != a.namespace || job.id != a.job_id || job.version != a.job_version {
            continue;
        }
        let key = job_key(a);
        match seen.get(&key) {
            // Two different jobs under one key (a purged job registered again): the first
            // keeps the key, the other stays embedded.
            Some(&i) if !same_version(&jobs[i], job) => continue,
            Some(_) => {}
            None => {
                seen.insert(key, jobs.len());
                jobs.push(job.clone());
            }
        }
        a.job = None;
    }
    jobs
}

/// Jobs by the key allocations name them with, to put back what [`detach_jobs`] took out.
#[derive(Debug, Default)]
pub struct JobIndex(HashMap<JobVersionKey, Arc<Job>>);

impl JobIndex {
    pub fn new(jobs: &[Arc<Job>]) -> JobIndex {
        JobIndex(
            jobs.iter()
                .map(|j| ((j.namespace.clone(), j.id.clone(), j.version), j.clone()))
                .collect(),
        )
    }

    pub fn get(&self, a: &Allocation) -> Option<&Arc<Job>> {
        self.0.get(&job_key(a))
    }

    /// Gives `a` its job if it has none and the index holds its version.
    pub fn attach(&self, a: &mut Allocation) {
        if a.job.is_none() {
            a.job = self.get(a).cloned();
        }
    }
}

/// The same job version: equal version and modify index (cheaper than comparing the jobs).
pub fn same_version(a: &Job, b: &Job) -> bool {
    a.version == b.version && a.job_modify_index == b.job_modify_index && a.id == b.id
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc(id: &str, job: &Arc<Job>) -> Allocation {
        Allocation {
            id: id.into(),
            namespace: job.namespace.clone(),
            job_id: job.id.clone(),
            job_version: job.version,
            job: Some(job.clone()),
            ..Default::default()
        }
    }

    fn job(version: u64) -> Arc<Job> {
        Arc::new(Job {
            id: "web".into(),
            namespace: "default".into(),
            version,
            job_modify_index: 10 + version,
            ..Default::default()
        })
    }

    #[test]
    fn each_version_is_written_once_and_comes_back() {
        let (v0, v1) = (job(0), job(1));
        let mut allocs: Vec<Allocation> = (0..100)
            .map(|i| alloc(&format!("a{i}"), if i % 2 == 0 { &v0 } else { &v1 }))
            .collect();
        allocs.push(Allocation {
            id: "bare".into(),
            ..Default::default()
        });
        let jobs = detach_jobs(allocs.iter_mut());
        assert_eq!(jobs.len(), 2);
        assert!(allocs.iter().all(|a| a.job.is_none()));

        let index = JobIndex::new(&jobs);
        for a in &mut allocs {
            index.attach(a);
        }
        for a in &allocs[..100] {
            let j = a.job.as_ref().expect("job put back");
            assert_eq!(j.version, a.job_version);
        }
        assert!(allocs[100].job.is_none());
    }

    #[test]
    fn a_job_that_is_not_the_named_version_stays_embedded() {
        let v0 = job(0);
        let mut odd = alloc("odd", &v0);
        odd.job_version = 3;
        let mut reused = alloc("reused", &v0);
        // Same key, another job (registered again after a purge).
        reused.job = Some(Arc::new(Job {
            job_modify_index: 99,
            ..(*v0).clone()
        }));
        let mut first = alloc("first", &v0);
        let jobs = detach_jobs([&mut first, &mut odd, &mut reused]);
        assert_eq!(jobs.len(), 1);
        assert!(first.job.is_none());
        assert!(odd.job.is_some());
        assert_eq!(reused.job.as_ref().map(|j| j.job_modify_index), Some(99));
    }
}
