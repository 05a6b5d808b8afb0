//! `-json` and `-t '{{ template }}'`, as Nomad's commands offer them: the API's own answer as
//! JSON, or run through a Go template (see `template_output`).

use anyhow::{bail, Result};
use serde::Serialize;

#[derive(clap::Args, Debug, Default, Clone)]
pub struct OutputFlags {
    /// Print the API's answer as JSON
    #[arg(long)]
    pub json: bool,
    /// Format the API's answer with a Go template, e.g. '{{range .}}{{.ID}}{{end}}'
    #[arg(short = 't', value_name = "TEMPLATE")]
    pub template: Option<String>,
}

impl OutputFlags {
    /// Prints `value` as JSON or through the template when asked; false when neither was.
    pub fn print<T: Serialize>(&self, value: &T) -> Result<bool> {
        if self.json && self.template.is_some() {
            bail!("Both json and template formatting are not allowed");
        }
        if self.json {
            println!("{}", serde_json::to_string_pretty(value)?);
            return Ok(true);
        }
        crate::template_output::print_if(&self.template, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_template_exclude_each_other() {
        let both = OutputFlags {
            json: true,
            template: Some("{{.}}".into()),
        };
        assert!(both
            .print(&1)
            .unwrap_err()
            .to_string()
            .contains("not allowed"));
        assert!(!OutputFlags::default().print(&1).unwrap());
    }
}
