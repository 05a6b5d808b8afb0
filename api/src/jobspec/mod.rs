//! Job files (HCL, YAML, JSON) -> [`Job`], with errors that point at `file:line:column`.
//!
//! HCL and YAML are first turned into one positioned tree ([`tree`]) and then decoded by one
//! decoder, so both accept the same vocabulary and report the same errors. JSON is Nomad's API
//! shape and goes through serde. The returned job is not canonicalized: the server does that.
//!
//! The tree, the typed [`decode::Fields`] reader and [`parse_tree`] are public so that the agent's
//! config file uses the same machinery.

pub mod decode;
mod decode_job;
mod decode_parts;
mod decode_service;
mod decode_task;
mod error;
pub mod hcl;
pub mod hcl2;
mod json;
mod node_pool_spec;
mod nomad_keys;
pub mod suggest;
pub mod tree;
pub mod yaml;

pub use error::JobspecError;
pub use hcl2::{ParseOptions, VarFile};
pub use node_pool_spec::parse_node_pool;

use crate::job::Job;
use std::path::Path;

/// The syntax of a job or config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Hcl,
    Yaml,
    Json,
}

impl Format {
    /// By extension: `.hcl`/`.nomad` -> HCL, `.yaml`/`.yml` -> YAML, `.json` -> JSON.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "hcl" | "nomad" => Some(Format::Hcl),
            "yaml" | "yml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    /// Guesses from the content: `{` -> JSON; a first line like `key:` -> YAML; otherwise HCL
    /// (`job "x" {`, `key = value`, `//` comments).
    pub fn sniff(src: &str) -> Format {
        let trimmed = src.trim_start_matches('\u{feff}').trim_start();
        if trimmed.starts_with('{') {
            return Format::Json;
        }
        for line in trimmed.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with("//") || line.starts_with("/*") {
                return Format::Hcl;
            }
            if line == "---" || line.starts_with("- ") {
                return Format::Yaml;
            }
            let word_end = line
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(line.len());
            return if line[word_end..].starts_with(':') {
                Format::Yaml
            } else {
                Format::Hcl
            };
        }
        Format::Hcl
    }
}

/// Reads and parses a job file; the format comes from the extension, or is sniffed.
pub fn parse_file(path: &Path) -> Result<Job, JobspecError> {
    parse_file_with(path, &ParseOptions::default())
}

/// [`parse_file`] with variable values for an HCL file; `file()` reads beside the job file.
pub fn parse_file_with(path: &Path, opts: &ParseOptions) -> Result<Job, JobspecError> {
    let name = path.display().to_string();
    let src = std::fs::read_to_string(path)
        .map_err(|e| JobspecError::whole_file(&name, format!("cannot read the job file: {e}")))?;
    let mut opts = opts.clone();
    opts.base_dir = Some(path.parent().map(Path::to_path_buf).unwrap_or_default());
    let format = Format::from_path(path).unwrap_or_else(|| Format::sniff(&src));
    match format {
        Format::Hcl => parse_hcl_with(&src, &name, &opts),
        Format::Yaml => parse_yaml(&src, &name),
        Format::Json => parse_json(&src, &name),
    }
}

/// Parses a job from text whose format is sniffed (see [`Format::sniff`]).
pub fn parse_str(src: &str, filename: &str) -> Result<Job, JobspecError> {
    match Format::sniff(src) {
        Format::Hcl => parse_hcl(src, filename),
        Format::Yaml => parse_yaml(src, filename),
        Format::Json => parse_json(src, filename),
    }
}

pub fn parse_hcl(src: &str, filename: &str) -> Result<Job, JobspecError> {
    parse_hcl_with(src, filename, &ParseOptions::default())
}

/// An HCL job file, evaluated as HCL2 with these variable values (see [`hcl2`]).
pub fn parse_hcl_with(src: &str, filename: &str, opts: &ParseOptions) -> Result<Job, JobspecError> {
    let body = hcl2::parse(src, filename, opts)?;
    decode_job::decode_root(&body).map_err(|e| JobspecError::from_tree(filename, e))
}

pub fn parse_yaml(src: &str, filename: &str) -> Result<Job, JobspecError> {
    let body = parse_tree(src, filename, Format::Yaml)?;
    decode_job::decode_root(&body).map_err(|e| JobspecError::from_tree(filename, e))
}

/// Nomad API JSON: `{"Job": {...}}`, or a bare job object.
pub fn parse_json(src: &str, filename: &str) -> Result<Job, JobspecError> {
    json::parse(src, filename)
}

/// Parses HCL or YAML into the positioned tree's root body (for decoders other than the job's,
/// such as the agent config). JSON has no tree and is refused.
pub fn parse_tree(src: &str, filename: &str, format: Format) -> Result<tree::Body, JobspecError> {
    let at = |e| JobspecError::from_tree(filename, e);
    match format {
        Format::Hcl => hcl::parse(src).map_err(at),
        Format::Yaml => {
            let root = yaml::parse(src).map_err(at)?;
            match root.value {
                tree::Value::Map(body) => Ok(body),
                other => Err(JobspecError::new(
                    filename,
                    root.pos.line,
                    root.pos.col,
                    format!(
                        "expected a map at the top of the file, found {}",
                        other.kind()
                    ),
                )),
            }
        }
        Format::Json => Err(JobspecError::whole_file(
            filename,
            "JSON is not supported here: use HCL or YAML",
        )),
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_scheduling;
