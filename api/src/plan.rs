//! `job plan`: a dry run of the scheduler for a job that is not registered yet
//! (`POST /v1/job/:id/plan`), in Nomad's request and response shapes.

use crate::alloc::AllocationMetric;
use crate::diff::JobDiff;
use crate::job::Job;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobPlanRequest {
    pub job: Job,
    /// Return the diff against the registered version.
    #[serde(default)]
    pub diff: bool,
    #[serde(default)]
    pub policy_override: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobPlanResponse {
    /// The registered job's modify index (0 when it does not exist): pass it to
    /// `job run -check-index` so the plan's results still hold when it runs.
    pub job_modify_index: u64,
    #[serde(default)]
    pub diff: Option<JobDiff>,
    #[serde(default)]
    pub annotations: Option<PlanAnnotations>,
    /// Groups that could not place everything, and why.
    #[serde(rename = "FailedTGAllocs", default)]
    pub failed_tg_allocs: BTreeMap<String, AllocationMetric>,
    #[serde(default)]
    pub warnings: String,
    #[serde(default)]
    pub created_evals: Option<Vec<crate::eval::Evaluation>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PlanAnnotations {
    #[serde(rename = "DesiredTGUpdates", default)]
    pub desired_tg_updates: BTreeMap<String, DesiredUpdates>,
    #[serde(default)]
    pub preempted_allocs: Option<Vec<crate::alloc::Allocation>>,
}

/// What the scheduler would do to one group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DesiredUpdates {
    pub ignore: u64,
    pub place: u64,
    pub migrate: u64,
    pub stop: u64,
    pub in_place_update: u64,
    pub destructive_update: u64,
    pub canary: u64,
    #[serde(default)]
    pub preemptions: u64,
}

impl DesiredUpdates {
    /// The group diff's `Updates`, keyed as Nomad prints them ("create/destroy update": 2).
    pub fn as_updates(&self) -> BTreeMap<String, u64> {
        [
            ("create", self.place),
            ("destroy", self.stop),
            ("create/destroy update", self.destructive_update),
            ("in-place update", self.in_place_update),
            ("ignore", self.ignore),
            ("canary", self.canary),
            ("migrate", self.migrate),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.to_string(), n))
        .collect()
    }

    /// Whether allocations would be created or destroyed (`job plan` exits 1 then).
    pub fn changes_allocations(&self) -> bool {
        self.place + self.stop + self.destructive_update + self.canary + self.migrate > 0
    }
}
