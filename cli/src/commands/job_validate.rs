//! `job validate FILE`: parse and check a job file without submitting it.

use crate::jobfile;
use anyhow::{bail, Result};
use api::Job;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The job file (HCL, or JSON in Nomad's API shape)
    pub file: PathBuf,
    #[command(flatten)]
    pub vars: jobfile::VarArgs,
}

pub fn run(args: &Args) -> Result<i32> {
    let job = jobfile::parse(&args.file, &args.vars)?;
    check(&job)?;
    print!("{}", warnings_text(&job.warnings()));
    println!("Job validation successful");
    Ok(0)
}

/// What the servers will check on register, done locally on a canonicalized copy so that the
/// user learns about problems before anything is submitted.
pub fn check(job: &Job) -> Result<()> {
    let mut canonical = job.clone();
    canonical.canonicalize();
    if let Err(e) = canonical.validate() {
        bail!("{}", validation_message(&e.0));
    }
    Ok(())
}

/// "Job Warnings:" and one line per warning, then a blank line; empty without warnings.
pub fn warnings_text(warnings: &[String]) -> String {
    if warnings.is_empty() {
        return String::new();
    }
    let mut out = format!("Job Warnings:\n{} warning(s):\n\n", warnings.len());
    for w in warnings {
        out.push_str(&format!("* {w}\n"));
    }
    out.push('\n');
    out
}

pub fn validation_message(errors: &[String]) -> String {
    let mut out = String::from("Job validation errors:");
    for e in errors {
        out.push_str(&format!("\n  * {e}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_errors_are_listed() {
        let msg =
            validation_message(&["job ID is missing".into(), "job has no task groups".into()]);
        assert_eq!(
            msg,
            "Job validation errors:\n  * job ID is missing\n  * job has no task groups"
        );
        assert!(check(&Job::default()).is_err());
    }
}
