//! `job history [-p] JOB`: the job's versions, newest first, with what changed under `-p`.

use crate::format::{self, kv};
use anyhow::{Context, Result};
use api::client::Client;
use api::diff_text;
use api::JobVersionsResponse;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The job's id
    pub job: String,
    /// Show the diff between each version and the one before it
    #[arg(short = 'p')]
    pub diffs: bool,
    /// Show only this version
    #[arg(long)]
    pub version: Option<u64>,
    #[command(flatten)]
    pub output: crate::output_flags::OutputFlags,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let resp = client
        .job_versions(&args.job, args.diffs)
        .with_context(|| format!("Error retrieving the versions of job {:?}", args.job))?;
    if args.output.print(&resp)? {
        return Ok(0);
    }
    print!("{}", render(&resp, args.version));
    Ok(0)
}

pub fn render(resp: &JobVersionsResponse, only: Option<u64>) -> String {
    let mut blocks = Vec::new();
    for (i, j) in resp.versions.iter().enumerate() {
        if only.is_some_and(|v| v != j.version) {
            continue;
        }
        let diff = resp.diffs.as_ref().and_then(|d| d.get(i));
        let mut pairs = vec![
            ("Version", j.version.to_string()),
            ("Stable", j.stable.to_string()),
            ("Submit Date", format::rfc3339(j.submit_time)),
        ];
        if diff.is_some() {
            pairs.push(("Diff", String::new()));
        }
        let mut block = kv(&pairs);
        if let Some(d) = diff {
            block.push_str(&diff_text::job_text(d, false));
        }
        blocks.push(block);
    }
    blocks.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::Job;

    #[test]
    fn versions_newest_first() {
        let v = |n: u64, stable: bool| Job {
            id: "web".into(),
            version: n,
            stable,
            submit_time: 1_704_103_200_000_000_000,
            ..Default::default()
        };
        let resp = JobVersionsResponse {
            versions: vec![v(1, false), v(0, true)],
            diffs: None,
        };
        assert_eq!(
            render(&resp, None),
            "Version     = 1\nStable      = false\nSubmit Date = 2024-01-01T10:00:00Z\n\n\
             Version     = 0\nStable      = true\nSubmit Date = 2024-01-01T10:00:00Z\n"
        );
        assert!(render(&resp, Some(0)).starts_with("Version     = 0\n"));
    }
}
