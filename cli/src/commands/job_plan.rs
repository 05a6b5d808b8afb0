//! `job plan FILE`: what registering the file would change, from a dry run of the scheduler on
//! the servers. Exits 0 when no allocation would be created or destroyed, 1 when some would, 255
//! on error, as Nomad's does.

use crate::jobfile;
use crate::placement;
use api::client::Client;
use api::diff_text;
use api::JobPlanResponse;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The job file to plan
    pub file: PathBuf,
    #[command(flatten)]
    pub vars: jobfile::VarArgs,
    /// Show the diff against the registered job (on by default, as in Nomad)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub diff: bool,
    /// Show unchanged fields too, and full ids
    #[arg(long)]
    pub verbose: bool,
}

pub fn run(client: &Client, args: &Args) -> anyhow::Result<i32> {
    let mut job = match jobfile::parse(&args.file, &args.vars) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("Error parsing job file {}:\n{e}", args.file.display());
            return Ok(255);
        }
    };
    jobfile::default_namespace(&mut job, client.namespace());
    if let Err(e) = crate::commands::job_validate::check(&job) {
        eprintln!("{e}");
        return Ok(255);
    }
    match client.plan_job(&job, args.diff) {
        Ok(resp) => {
            print!(
                "{}",
                render(&resp, &args.file.display().to_string(), args.verbose)
            );
            Ok(exit_code(&resp))
        }
        Err(e) => {
            eprintln!("Error during plan: {e}");
            Ok(255)
        }
    }
}

/// 1 when the plan creates or destroys allocations, else 0.
pub fn exit_code(resp: &JobPlanResponse) -> i32 {
    let changes = resp.annotations.as_ref().is_some_and(|a| {
        a.desired_tg_updates
            .values()
            .any(api::DesiredUpdates::changes_allocations)
    });
    i32::from(changes)
}

pub fn render(resp: &JobPlanResponse, file: &str, verbose: bool) -> String {
    let mut out = String::new();
    if let Some(d) = &resp.diff {
        out.push_str(&diff_text::job_text(d, verbose));
        out.push('\n');
    }
    out.push_str("Scheduler dry-run:\n");
    if resp.failed_tg_allocs.is_empty() {
        out.push_str("- All tasks successfully allocated.\n");
    } else {
        out.push_str("- WARNING: Failed to place all allocations.\n");
        for (group, metric) in &resp.failed_tg_allocs {
            out.push_str(&format!("  {}\n", placement::group_header(group, metric)));
            for line in placement::metric_lines(metric) {
                out.push_str(&format!("    {line}\n"));
            }
        }
    }
    if !resp.warnings.is_empty() {
        out.push_str(&format!("\nJob Warnings:\n{}\n", resp.warnings));
    }
    let index = resp.job_modify_index;
    out.push_str(&format!(
        "\nJob Modify Index: {index}\n\
         To submit the job with version verification run:\n\n\
         nomadctl job run -check-index {index} {file}\n\n\
         When running the job with the check-index flag, the job will only be run if the\n\
         job modify index given matches the server-side version. If the index has\n\
         changed, another user has modified the job and the plan's results are\n\
         potentially invalid.\n"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::{DesiredUpdates, PlanAnnotations};
    use std::collections::BTreeMap;

    #[test]
    fn exit_codes_and_the_dry_run_section() {
        let mut resp = JobPlanResponse {
            job_modify_index: 90,
            annotations: Some(PlanAnnotations {
                desired_tg_updates: BTreeMap::from([(
                    "web".to_string(),
                    DesiredUpdates {
                        ignore: 2,
                        ..Default::default()
                    },
                )]),
                preempted_allocs: None,
            }),
            ..Default::default()
        };
        assert_eq!(exit_code(&resp), 0);
        let text = render(&resp, "v2.nomad", false);
        assert!(text.starts_with("Scheduler dry-run:\n- All tasks successfully allocated.\n"));
        assert!(text.contains("Job Modify Index: 90\n"));
        assert!(text.contains("nomadctl job run -check-index 90 v2.nomad\n"));
        if let Some(a) = resp.annotations.as_mut() {
            a.desired_tg_updates
                .get_mut("web")
                .unwrap()
                .destructive_update = 2;
        }
        assert_eq!(exit_code(&resp), 1);
    }
}
