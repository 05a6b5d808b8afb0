//! `var put [-check-index N] [-force] [-in json|hcl] [-out FORMAT] PATH [@SPEC|-] [KEY=VALUE]...`
//! (or `var put @SPEC|- [KEY=VALUE]...`, the path then coming from the specification).

use super::var_output::{choose, render_var, Out};
use super::var_spec::{add_items, load_spec, InFormat, Stdin};
use anyhow::{anyhow, bail, Result};
use api::client::{Client, ClientError};
use api::variable::Variable;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write only if the variable's modify index is this (0: only if it does not exist)
    #[arg(long = "check-index")]
    pub check_index: Option<u64>,
    /// Write whatever the variable's index is
    #[arg(long)]
    pub force: bool,
    /// The format of a specification from stdin, or from a file whose name does not tell
    #[arg(long = "in", value_enum, default_value = "json")]
    pub input: InFormat,
    /// Output format of the written variable (none on a terminal, json when redirected)
    #[arg(long, value_enum)]
    pub out: Option<Out>,
    /// A Go template for `-out go-template`
    #[arg(long)]
    pub template: Option<String>,
    /// The path (or @SPEC / - for a specification), then an optional specification and items
    #[arg(required = true, num_args = 1..)]
    pub args: Vec<String>,
}

/// The variable the arguments describe.
pub fn variable_of(args: &[String], input: InFormat, stdin: &mut Stdin) -> Result<Variable> {
    let is_spec = |a: &str| a == "-" || a.starts_with('@');
    let (mut var, rest) = match args {
        [first, rest @ ..] if is_spec(first) => (load_spec(first, input, stdin)?, rest),
        [path, spec, rest @ ..] if is_spec(spec) => {
            let mut v = load_spec(spec, input, stdin)?;
            v.path = path.clone();
            (v, rest)
        }
        [path, rest @ ..] => (
            Variable {
                path: path.clone(),
                ..Default::default()
            },
            rest,
        ),
        [] => bail!("a variable path is required"),
    };
    add_items(&mut var, rest, stdin)?;
    if var.path.is_empty() {
        bail!("the variable specification has no path: give one as the first argument");
    }
    Ok(var)
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let out = choose(args.out, &args.template, Out::None)?;
    let var = variable_of(&args.args, args.input, &mut Stdin::default())?;
    if var.items.is_empty() {
        bail!("No items specified: give KEY=VALUE items or a specification with items");
    }
    let check = match (args.force, args.check_index) {
        (true, _) => None,
        (false, Some(i)) => Some(i),
        // A specification that carries a modify index is written only over that version.
        (false, None) => (var.modify_index != 0).then_some(var.modify_index),
    };
    let check_text = check.map(|i| i.to_string());
    let mut query: Vec<(&str, &str)> = Vec::new();
    if let Some(c) = &check_text {
        query.push(("cas", c));
    }
    if !var.namespace.is_empty() && client.namespace().is_none() {
        query.push(("namespace", &var.namespace));
    }
    let written: Variable = match client.put(&format!("/v1/var/{}", var.path), &query, &var) {
        Ok(v) => v,
        Err(ClientError::Http { status: 409, body }) => {
            eprint!("{}", conflict_text(check.unwrap_or(0), &body));
            return Ok(1);
        }
        Err(e) => return Err(anyhow!("Error creating variable: {e}")),
    };
    match out {
        Out::None => println!(
            "{} variable {:?} with modify index {}",
            // A new variable was created at the index it was written at.
            if written.create_index == written.modify_index {
                "Created"
            } else {
                "Updated"
            },
            written.path,
            written.modify_index
        ),
        other => print!("{}", render_var(&written, other, &args.template)?),
    }
    Ok(0)
}

/// Nomad's wording for a check-and-set refusal; `body` is the variable as it is.
pub fn conflict_text(check: u64, body: &str) -> String {
    let current: Option<Variable> = serde_json::from_str(body).ok();
    let server_index = current.map_or(0, |v| v.modify_index);
    if current_is_locked(body) {
        return "Error: the variable is locked by another holder: wait for its lock to be released\n".into();
    }
    format!(
        "Check-and-Set conflict\n\n    Your provided check-index ({check}) does not match the\n    server-side index ({server_index}).\n\n    If you are sure you want to perform this operation, add the -force or\n    -check-index={server_index} flag before the positional arguments.\n"
    )
}

fn current_is_locked(body: &str) -> bool {
    serde_json::from_str::<Variable>(body).is_ok_and(|v| v.lock.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_spec_and_items_combine() {
        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().join("s.json");
        std::fs::write(&spec, r#"{"Path":"from/spec","Items":{"a":"1","b":"2"}}"#).unwrap();
        let at = format!("@{}", spec.display());
        let v = variable_of(
            &[at.clone(), "b=3".into()],
            InFormat::Json,
            &mut Stdin::default(),
        )
        .unwrap();
        assert_eq!(v.path, "from/spec");
        assert_eq!(v.items["b"], "3", "the command line wins");
        let v = variable_of(
            &["other".into(), at, "c=4".into()],
            InFormat::Json,
            &mut Stdin::default(),
        )
        .unwrap();
        assert_eq!((v.path.as_str(), v.items.len()), ("other", 3));
        let v = variable_of(
            &["p".into(), "k=v".into()],
            InFormat::Json,
            &mut Stdin::default(),
        )
        .unwrap();
        assert_eq!(v.items["k"], "v");
    }

    #[test]
    fn conflict_names_both_indexes() {
        let text = conflict_text(
            5,
            r#"{"Namespace":"default","Path":"p","ModifyIndex":9,"Items":{}}"#,
        );
        assert!(
            text.contains("check-index (5)") && text.contains("server-side index (9)"),
            "{text}"
        );
        assert!(text.contains("-check-index=9"));
    }
}
