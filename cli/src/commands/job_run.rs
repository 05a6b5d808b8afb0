//! `job run FILE` (and `run`): parse locally, register, then monitor the evaluation.

use crate::commands::job_validate;
use crate::jobfile;
use anyhow::{anyhow, Result};
use api::client::Client;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The job file to submit
    pub file: PathBuf,
    #[command(flatten)]
    pub vars: jobfile::VarArgs,
    /// Only register if the job's current modify index equals this (0: the job must not exist)
    #[arg(long = "check-index")]
    pub check_index: Option<u64>,
    /// Print the job as the API's JSON (`{"Job": ...}`, every unset field as null) instead of
    /// running it, for `curl` or a client library
    #[arg(long)]
    pub output: bool,
    #[command(flatten)]
    pub monitor: crate::monitor::MonitorFlags,
}

pub fn parse_timeout(s: &str) -> Result<std::time::Duration, api::duration::DurationError> {
    api::duration::parse_duration(s)
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let mut job = jobfile::parse(&args.file, &args.vars)?;
    jobfile::default_namespace(&mut job, client.namespace());
    job_validate::check(&job)?;
    if args.output {
        let mut job = job;
        job.canonicalize();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "Job": job }))?
        );
        return Ok(0);
    }
    let resp = client
        .register_job(&job, args.check_index)
        .map_err(|e| anyhow!("Error submitting job: {e}"))?;
    if !resp.warnings.is_empty() {
        println!("Job Warnings:\n{}\n", resp.warnings);
    }
    if resp.eval_id.is_empty() {
        // Nothing to schedule (e.g. a periodic or parameterized job).
        println!("Job registration successful");
        return Ok(0);
    }
    let detached = detach_message(&resp.eval_id);
    args.monitor
        .monitor_or_print(client, &resp.eval_id, true, detached.trim_end())
}

pub fn detach_message(eval_id: &str) -> String {
    format!("Job registration successful\nEvaluation ID: {eval_id}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_prints_full_eval_id() {
        assert_eq!(
            detach_message("4b1f4b2c-aaaa-bbbb"),
            "Job registration successful\nEvaluation ID: 4b1f4b2c-aaaa-bbbb\n"
        );
    }

    #[test]
    fn timeout_takes_go_durations() {
        assert_eq!(parse_timeout("90s"), Ok(std::time::Duration::from_secs(90)));
        assert!(parse_timeout("soon").is_err());
    }
}
