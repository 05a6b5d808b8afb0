//! How the `var` commands print a variable or a listing: `-out table|json|hcl|none|terse|
//! go-template` with `-template`, defaulting as Nomad does to a table on a terminal and JSON
//! when redirected.

use crate::format::{kv, rfc3339, table_with};
use anyhow::{bail, Result};
use api::variable::{Variable, VariableMetadata};
use std::io::IsTerminal;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Out {
    GoTemplate,
    Hcl,
    Json,
    None,
    Table,
    Terse,
}

/// The format to print in: `-out`, or go-template when only `-template` is given, or
/// `tty_default` on a terminal and JSON when redirected.
pub fn choose(out: Option<Out>, template: &Option<String>, tty_default: Out) -> Result<Out> {
    match (out, template) {
        (Some(Out::GoTemplate), None) => {
            bail!("a template must be supplied using '-template' when using go-template formatting")
        }
        (Some(o), Some(_)) if o != Out::GoTemplate => {
            bail!("the '-template' flag is only valid when using 'go-template' formatting")
        }
        (_, Some(_)) => Ok(Out::GoTemplate),
        (Some(o), None) => Ok(o),
        (None, None) if std::io::stdout().is_terminal() => Ok(tty_default),
        (None, None) => Ok(Out::Json),
    }
}

/// One variable in `out`.
pub fn render_var(var: &Variable, out: Out, template: &Option<String>) -> Result<String> {
    Ok(match out {
        Out::None => String::new(),
        Out::Json => format!("{}\n", serde_json::to_string_pretty(var)?),
        Out::GoTemplate => crate::template_output::render(template.as_deref().unwrap_or(""), var)?,
        Out::Hcl => render_hcl(var),
        Out::Table | Out::Terse => render_table(var),
    })
}

/// As `nomad var get` prints it.
pub fn render_table(var: &Variable) -> String {
    let mut pairs = vec![
        ("Namespace", var.namespace.clone()),
        ("Path", var.path.clone()),
        ("Create Time", rfc3339(var.create_time)),
    ];
    if var.modify_index != 0 {
        pairs.push(("Check Index", var.modify_index.to_string()));
    }
    if let Some(l) = &var.lock {
        pairs.push(("Lock ID", l.id.clone()));
    }
    let mut out = kv(&pairs);
    if !var.items.is_empty() {
        out.push_str("\nItems\n");
        out.push_str(&crate::format::kv_map(&var.items));
    }
    out
}

/// The specification form `var put` reads back.
pub fn render_hcl(var: &Variable) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut out = format!(
        "namespace = {}\npath      = {}\n\nitems {{\n",
        q(&var.namespace),
        q(&var.path)
    );
    for (k, v) in &var.items {
        let key = if k
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            k.clone()
        } else {
            q(k)
        };
        out.push_str(&format!("  {key} = {}\n", q(v)));
    }
    out.push_str("}\n");
    out
}

/// A listing, as `nomad var list` prints it.
pub fn render_list(list: &[VariableMetadata], out: Out) -> String {
    match out {
        Out::Terse => list.iter().map(|v| format!("{}\n", v.path)).collect(),
        _ if list.is_empty() => "No matching variables found\n".into(),
        _ => {
            let rows = list
                .iter()
                .map(|v| vec![v.namespace.clone(), v.path.clone(), rfc3339(v.modify_time)])
                .collect();
            table_with(&["Namespace", "Path", "Last Updated"], rows)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var() -> Variable {
        let mut v = Variable {
            namespace: "default".into(),
            path: "secret/creds".into(),
            create_index: 3,
            modify_index: 116,
            create_time: 1_661_267_677_000_000_000,
            modify_time: 1_661_267_677_000_000_000,
            ..Default::default()
        };
        v.items.insert("passcode".into(), "my-long-passcode".into());
        v
    }

    #[test]
    fn get_prints_like_nomad() {
        let text = render_table(&var());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Namespace   = default");
        assert_eq!(lines[1], "Path        = secret/creds");
        assert!(lines[2].starts_with("Create Time = 2022-08-23T"), "{text}");
        assert_eq!(lines[3], "Check Index = 116");
        assert_eq!(lines[5], "Items");
        assert_eq!(lines[6], "passcode = my-long-passcode");
    }

    #[test]
    fn hcl_output_reads_back_as_a_spec() {
        let text = render_hcl(&var());
        let back =
            super::super::var_spec::parse_spec(&text, super::super::var_spec::InFormat::Hcl, "x")
                .unwrap();
        assert_eq!(back.items, var().items);
        assert_eq!(back.path, "secret/creds");
    }

    #[test]
    fn template_and_out_must_agree() {
        let t = Some("{{.Path}}".to_string());
        assert_eq!(choose(None, &t, Out::Table).unwrap(), Out::GoTemplate);
        assert!(choose(Some(Out::Json), &t, Out::Table).is_err());
        assert!(choose(Some(Out::GoTemplate), &None, Out::Table).is_err());
        assert_eq!(
            render_var(
                &var(),
                Out::GoTemplate,
                &Some("{{.Path}}={{.Items.passcode}}".into())
            )
            .unwrap(),
            "secret/creds=my-long-passcode"
        );
    }
}
