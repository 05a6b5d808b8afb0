//! The list tables several commands share: jobs, allocations, nodes.

use crate::format::{self, table_with};
use api::{Allocation, JobListStub, NodeListStub};

/// `ID  Type  Priority  Status  Submit Date`, as `job status` lists jobs.
pub fn jobs(jobs: &[JobListStub]) -> String {
    let rows = jobs
        .iter()
        .map(|j| {
            vec![
                j.id.clone(),
                j.job_type.clone(),
                j.priority.to_string(),
                job_status(&j.status, j.stop),
                format::rfc3339(j.submit_time),
            ]
        })
        .collect();
    table_with(&["ID", "Type", "Priority", "Status", "Submit Date"], rows)
}

/// Nomad shows a stopped job that has wound down as "dead (stopped)".
pub fn job_status(status: &str, stop: bool) -> String {
    if stop && status == api::JOB_STATUS_DEAD {
        format!("{status} (stopped)")
    } else {
        status.to_string()
    }
}

/// `ID  Node ID  Task Group  Version  Desired  Status  Created  Modified`, newest first.
/// Times are relative ("10s ago") unless `verbose`, which also shows full ids.
pub fn allocs(allocs: &[Allocation], verbose: bool, now: i64) -> String {
    let mut sorted: Vec<&Allocation> = allocs.iter().collect();
    sorted.sort_by(|a, b| {
        b.create_index
            .cmp(&a.create_index)
            .then(a.name.cmp(&b.name))
    });
    let when = |t: i64| {
        if verbose {
            format::rfc3339(t)
        } else {
            format::ago(t, now)
        }
    };
    let rows = sorted
        .iter()
        .map(|a| {
            vec![
                format::id(&a.id, verbose),
                format::id(&a.node_id, verbose),
                a.task_group.clone(),
                a.job_version.to_string(),
                a.desired_status.clone(),
                a.client_status.clone(),
                when(a.create_time),
                when(a.modify_time),
            ]
        })
        .collect();
    table_with(
        &[
            "ID",
            "Node ID",
            "Task Group",
            "Version",
            "Desired",
            "Status",
            "Created",
            "Modified",
        ],
        rows,
    )
}

/// `ID  Node Pool  DC  Name  Class  Drain  Eligibility  Status` (verbose adds Address and
/// Version).
pub fn nodes(nodes: &[NodeListStub], verbose: bool) -> String {
    let mut header = vec!["ID", "Node Pool", "DC", "Name", "Class"];
    if verbose {
        header.extend(["Address", "Version"]);
    }
    header.extend(["Drain", "Eligibility", "Status"]);
    let rows = nodes
        .iter()
        .map(|n| {
            let mut row = vec![
                format::id(&n.id, verbose),
                n.node_pool.clone(),
                n.datacenter.clone(),
                n.name.clone(),
                format::or_none(&n.node_class),
            ];
            if verbose {
                row.extend([n.address.clone(), n.version.clone()]);
            }
            row.extend([
                n.drain.to_string(),
                n.scheduling_eligibility.clone(),
                n.status.clone(),
            ]);
            row
        })
        .collect();
    table_with(&header, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alloc_table_is_newest_first_with_relative_times() {
        let now = 1_000_000_000_000_000;
        let sec = 1_000_000_000;
        let a = |id: &str, idx: u64| Allocation {
            id: id.into(),
            node_id: "7c3b1e7f-xxxx".into(),
            task_group: "web".into(),
            desired_status: "run".into(),
            client_status: "running".into(),
            create_index: idx,
            create_time: now - 10 * sec,
            modify_time: now - 8 * sec,
            ..Default::default()
        };
        let out = allocs(&[a("11111111-a", 1), a("8ba85cef-b", 2)], false, now);
        assert_eq!(
            out,
            "ID        Node ID   Task Group  Version  Desired  Status   Created  Modified\n\
             8ba85cef  7c3b1e7f  web         0        run      running  10s ago  8s ago\n\
             11111111  7c3b1e7f  web         0        run      running  10s ago  8s ago\n"
        );
    }

    #[test]
    fn stopped_dead_jobs_say_so() {
        assert_eq!(job_status("dead", true), "dead (stopped)");
        assert_eq!(job_status("running", true), "running");
    }
}
