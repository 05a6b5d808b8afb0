//! `-t '{{ template }}'` (and the `var` commands' `-template`): Go's text/template, run over
//! the JSON the API answered, as Nomad's CLI runs it over its Go structs. Field names are the
//! API's, so `{{range .}}{{.ID}}{{end}}` works as it does with `nomad`.

use anyhow::{anyhow, Result};
use api::gotemplate::{Funcs, Template};
use serde::Serialize;

pub fn render<T: Serialize>(src: &str, value: &T) -> Result<String> {
    let data = serde_json::to_value(value)?;
    let template =
        Template::parse("output", src).map_err(|e| anyhow!("Error parsing the template: {e}"))?;
    template
        .render(&data, &Funcs::builtin())
        .map_err(|e| anyhow!("Error formatting the data: {e}"))
}

/// Prints `value` with the template when one is given; says whether it did.
pub fn print_if<T: Serialize>(template: &Option<String>, value: &T) -> Result<bool> {
    match template {
        Some(t) => {
            print!("{}", render(t, value)?);
            Ok(true)
        }
        None => Ok(false),
    }
}
