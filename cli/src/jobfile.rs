//! Reading a job file into an `api::Job`, through the shared jobspec parser (HCL, YAML, JSON).

use anyhow::Result;
use api::Job;
use std::path::Path;

/// Parses a job file locally; errors read `file:line:col: message`.
pub fn parse(path: &Path) -> Result<Job> {
    Ok(api::jobspec::parse_file(path)?)
}
