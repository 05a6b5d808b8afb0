//! Deployments as Nomad prints them: the header block, the per-group "Deployed" table, and the
//! list. Shared by `deployment status|list`, `job status` and the `job run` monitor.

use crate::format::{self, kv, table_with};
use api::Deployment;

/// `ID = ...` `Job ID = ...` ... `Description = ...`.
pub fn header(d: &Deployment, verbose: bool) -> String {
    kv(&[
        ("ID", format::id(&d.id, verbose)),
        ("Job ID", d.job_id.clone()),
        ("Job Version", d.job_version.to_string()),
        ("Status", d.status.clone()),
        ("Description", d.status_description.clone()),
    ])
}

/// The "Deployed" table: one row per group, with Auto Revert, Promoted and Canaries columns
/// only when some group uses them.
pub fn groups(d: &Deployment) -> String {
    let revert = d.task_groups.values().any(|g| g.auto_revert);
    let canaries = d.task_groups.values().any(|g| g.desired_canaries > 0);
    let mut header = vec!["Task Group"];
    if revert {
        header.push("Auto Revert");
    }
    if canaries {
        header.push("Promoted");
    }
    header.push("Desired");
    if canaries {
        header.push("Canaries");
    }
    header.extend(["Placed", "Healthy", "Unhealthy", "Progress Deadline"]);
    let rows = d
        .task_groups
        .iter()
        .map(|(name, g)| {
            let mut row = vec![name.clone()];
            if revert {
                row.push(g.auto_revert.to_string());
            }
            if canaries {
                row.push(if g.desired_canaries > 0 {
                    g.promoted.to_string()
                } else {
                    "N/A".into()
                });
            }
            row.push(g.desired_total.to_string());
            if canaries {
                row.push(g.desired_canaries.to_string());
            }
            let deadline = api::time::parse_rfc3339(&g.require_progress_by)
                .map(format::rfc3339)
                .unwrap_or_else(|| "N/A".into());
            row.extend([
                g.placed_allocs.to_string(),
                g.healthy_allocs.to_string(),
                g.unhealthy_allocs.to_string(),
                deadline,
            ]);
            row
        })
        .collect();
    table_with(&header, rows)
}

/// `deployment status`: the header, then the groups.
pub fn status(d: &Deployment, verbose: bool) -> String {
    format!("{}\nDeployed\n{}", header(d, verbose), groups(d))
}

/// `deployment list`.
pub fn list(ds: &[Deployment], verbose: bool) -> String {
    let rows = ds
        .iter()
        .map(|d| {
            vec![
                format::id(&d.id, verbose),
                d.job_id.clone(),
                d.job_version.to_string(),
                d.status.clone(),
                d.status_description.clone(),
            ]
        })
        .collect();
    table_with(
        &["ID", "Job ID", "Job Version", "Status", "Description"],
        rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::DeploymentState;

    #[test]
    fn the_deployed_table_grows_columns_for_canaries_and_reverts() {
        let mut d = Deployment {
            id: "c1a2b3d4-1111".into(),
            job_id: "example".into(),
            job_version: 3,
            status: "running".into(),
            status_description: "Deployment is running".into(),
            ..Default::default()
        };
        d.task_groups.insert(
            "cache".into(),
            DeploymentState {
                desired_total: 3,
                placed_allocs: 1,
                require_progress_by: "2024-01-01T10:10:00.5Z".into(),
                ..Default::default()
            },
        );
        assert_eq!(
            status(&d, false),
            "ID          = c1a2b3d4\nJob ID      = example\nJob Version = 3\nStatus      = running\n\
             Description = Deployment is running\n\nDeployed\n\
             Task Group  Desired  Placed  Healthy  Unhealthy  Progress Deadline\n\
             cache       3        1       0        0          2024-01-01T10:10:00Z\n"
        );
        let g = d.task_groups.get_mut("cache").unwrap();
        g.desired_canaries = 1;
        g.auto_revert = true;
        assert!(
            groups(&d).starts_with("Task Group  Auto Revert  Promoted  Desired  Canaries  Placed")
        );
    }
}
