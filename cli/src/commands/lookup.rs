//! Turning a user-given id or prefix into one object, with Nomad's messages when that fails.

use crate::format::{self, table_with};
use crate::prefix::{check_min_len, pick, Match};
use crate::tables;
use anyhow::{anyhow, bail, Context, Result};
use api::client::Client;
use api::{Allocation, Evaluation, JobListStub, NodeListStub};

pub fn job(client: &Client, given: &str) -> Result<JobListStub> {
    let jobs = client.jobs(given).context("Error querying job")?;
    match pick(given, jobs, |j| j.id.as_str()) {
        Match::One(j) => Ok(j),
        Match::None => bail!("No job(s) with prefix or id {given:?} found"),
        Match::Many(many) => bail!("Prefix matched multiple jobs\n\n{}", tables::jobs(&many)),
    }
}

/// Resolves an allocation id or prefix and returns the full allocation.
pub fn alloc(client: &Client, given: &str, verbose: bool) -> Result<Allocation> {
    check_min_len(given)?;
    let allocs = client
        .allocations(given)
        .context("Error querying allocations")?;
    let stub = match pick(given, allocs, |a| a.id.as_str()) {
        Match::One(a) => a,
        Match::None => bail!("No allocation(s) with prefix or id {given:?} found"),
        Match::Many(many) => bail!(
            "Prefix matched multiple allocations\n\n{}",
            tables::allocs(&many, verbose, format::now_nanos())
        ),
    };
    client
        .allocation(&stub.id)
        .map_err(|e| anyhow!("Error querying allocation: {e}"))
}

pub fn eval(client: &Client, given: &str, verbose: bool) -> Result<Evaluation> {
    check_min_len(given)?;
    let evals = client
        .evaluations(given)
        .context("Error querying evaluations")?;
    let stub = match pick(given, evals, |e| e.id.as_str()) {
        Match::One(e) => e,
        Match::None => bail!("No evaluation(s) with prefix or id {given:?} found"),
        Match::Many(many) => {
            let rows = many
                .iter()
                .map(|e| {
                    vec![
                        format::id(&e.id, verbose),
                        e.priority.to_string(),
                        e.triggered_by.clone(),
                        e.job_id.clone(),
                        e.status.clone(),
                        (!e.failed_tg_allocs.is_empty()).to_string(),
                    ]
                })
                .collect();
            let header = [
                "ID",
                "Priority",
                "Triggered By",
                "Job ID",
                "Status",
                "Placement Failures",
            ];
            bail!(
                "Prefix matched multiple evaluations\n\n{}",
                table_with(&header, rows)
            )
        }
    };
    client
        .evaluation(&stub.id)
        .map_err(|e| anyhow!("Error querying evaluation: {e}"))
}

pub fn node(client: &Client, given: &str, verbose: bool) -> Result<NodeListStub> {
    check_min_len(given)?;
    let nodes = client.nodes(given).context("Error querying node info")?;
    match pick(given, nodes, |n| n.id.as_str()) {
        Match::One(n) => Ok(n),
        Match::None => bail!("No node(s) with prefix {given:?} found"),
        Match::Many(many) => bail!(
            "Prefix matched multiple nodes\n\n{}",
            tables::nodes(&many, verbose)
        ),
    }
}

/// The node a `-self` flag or a node ID/prefix names (exactly one of them must be given): with
/// `-self`, the node of the client agent that `client` talks to.
pub fn node_or_self(client: &Client, given: Option<&str>, own: bool) -> Result<String> {
    match (given, own) {
        (Some(given), false) => Ok(node(client, given, false)?.id),
        (None, true) => {
            let (me, _): (serde_json::Value, _) = client
                .get("/v1/agent/self", &[])
                .context("Error querying agent info")?;
            me["stats"]["client"]["node_id"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .ok_or_else(|| anyhow!("The agent at this address runs no client: -self needs one"))
        }
        _ => bail!("Give exactly one of a node ID or -self"),
    }
}
