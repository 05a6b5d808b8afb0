//! `job dispatch [-meta k=v]... [-detach] JOB [INPUT|-]`: runs a child of a parameterized job
//! with the given meta and payload (a file, or stdin with `-`).

use crate::monitor::MonitorFlags;
use anyhow::{anyhow, bail, Context, Result};
use api::client::{seg, Client};
use api::{JobDispatchRequest, JobDispatchResponse};
use base64::Engine;
use std::io::Read;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Meta for the dispatched job, key=value; repeat for more
    #[arg(long = "meta")]
    pub meta: Vec<String>,
    #[command(flatten)]
    pub monitor: MonitorFlags,
    /// The parameterized job
    pub job: String,
    /// The payload: a file, or - to read stdin
    pub input: Option<String>,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let mut req = JobDispatchRequest {
        job_id: args.job.clone(),
        ..Default::default()
    };
    for m in &args.meta {
        let Some((k, v)) = m.split_once('=') else {
            bail!("invalid meta {m:?}: write key=value");
        };
        req.meta.insert(k.to_string(), v.to_string());
    }
    let payload = match args.input.as_deref() {
        None => Vec::new(),
        Some("-") => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("reading the payload from stdin")?;
            buf
        }
        Some(file) => std::fs::read(file).with_context(|| format!("reading the payload {file}"))?,
    };
    req.payload = base64::engine::general_purpose::STANDARD.encode(payload);
    let resp: JobDispatchResponse = client
        .post(&format!("/v1/job/{}/dispatch", seg(&args.job)), &[], &req)
        .map_err(|e| anyhow!("Failed to dispatch job: {e}"))?;
    println!("Dispatched Job ID = {}", resp.dispatched_job_id);
    println!("Evaluation ID     = {}", api::short_id(&resp.eval_id));
    if !args.monitor.detach {
        println!();
    }
    let detached = super::job_run::detach_message(&resp.eval_id);
    args.monitor
        .monitor_or_print(client, &resp.eval_id, true, detached.trim_end())
}
