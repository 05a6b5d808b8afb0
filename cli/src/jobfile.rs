//! Reading a job file into an `api::Job`, through the shared jobspec parser (HCL, YAML, JSON).

use anyhow::Result;
use api::Job;
use std::path::Path;

/// Parses a job file locally; errors read `file:line:col: message`.
pub fn parse(path: &Path) -> Result<Job> {
    Ok(api::jobspec::parse_file(path)?)
}

/// `-namespace` / `NOMAD_NAMESPACE` places a job whose file names no namespace, as Nomad's CLI
/// does; a namespace written in the file wins.
pub fn default_namespace(job: &mut api::Job, flag: Option<&str>) {
    if let Some(ns) = flag {
        if job.namespace == api::namespace::DEFAULT_NAMESPACE {
            job.namespace = ns.to_string();
        }
    }
}
