//! Reading a job file into an `api::Job`, through the shared jobspec parser (HCL, YAML, JSON),
//! with the HCL2 variables given on the command line.

use anyhow::{bail, Context, Result};
use api::jobspec::{ParseOptions, VarFile};
use api::Job;
use std::path::{Path, PathBuf};

/// `-var` and `-var-file`, as `job run`, `job plan` and `job validate` take them.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct VarArgs {
    /// Set a variable the job file declares: -var name=value (repeatable; lists and maps are
    /// written in HCL: -var 'dcs=["dc1","dc2"]')
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub var: Vec<String>,
    /// Read variable values from a file of name = value lines, or a JSON object (repeatable)
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_file: Vec<PathBuf>,
}

impl VarArgs {
    /// The values, over `NOMAD_VAR_<name>` from the environment.
    pub fn options(&self) -> Result<ParseOptions> {
        let mut opts = ParseOptions::default().with_process_env();
        for v in &self.var {
            let Some((name, value)) = v.split_once('=') else {
                bail!("-var {v:?}: write -var name=value");
            };
            if name.trim().is_empty() {
                bail!("-var {v:?}: the variable name is empty");
            }
            opts.vars.push((name.trim().to_string(), value.to_string()));
        }
        for path in &self.var_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the var file {}", path.display()))?;
            opts.var_files.push(VarFile {
                name: path.display().to_string(),
                text,
                base_dir: Some(path.parent().map(Path::to_path_buf).unwrap_or_default()),
            });
        }
        Ok(opts)
    }
}

/// Parses a job file locally; errors read `file:line:col: message`.
pub fn parse(path: &Path, vars: &VarArgs) -> Result<Job> {
    let opts = vars.options()?;
    Ok(api::jobspec::parse_file_with(path, &opts)?)
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
