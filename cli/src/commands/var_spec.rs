//! What `var put` and `var lock` take: a variable specification (JSON or HCL, from a file or
//! stdin) and `key=value` items on the command line, the latter winning.

use anyhow::{anyhow, bail, Context, Result};
use api::jobspec::tree::{Body, Value};
use api::variable::Variable;
use std::io::Read;

/// The format of a specification read from stdin or a file without a telling extension.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum InFormat {
    Json,
    Hcl,
}

/// Reads stdin once: a spec and an item may not both come from it.
#[derive(Default)]
pub struct Stdin {
    used: bool,
}

impl Stdin {
    pub fn read(&mut self, what: &str) -> Result<String> {
        if std::mem::replace(&mut self.used, true) {
            bail!("only one of the specification and the items can be read from stdin ({what})");
        }
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .with_context(|| format!("reading {what} from stdin"))?;
        Ok(s)
    }
}

/// Parses a specification; `name` is where it came from, for errors.
pub fn parse_spec(text: &str, format: InFormat, name: &str) -> Result<Variable> {
    match format {
        InFormat::Json => api::nulls::from_slice(text.as_bytes())
            .map_err(|e| anyhow!("{name}: invalid variable specification: {e}")),
        InFormat::Hcl => {
            let body = api::jobspec::hcl::parse(text)
                .map_err(|e| anyhow!("{name}:{}:{}: {}", e.pos.line, e.pos.col, e.message))?;
            spec_from_hcl(&body, name)
        }
    }
}

/// `path = "..."`, `namespace = "..."` and an `items { key = "value" }` block, as `nomad var
/// init` writes them.
fn spec_from_hcl(body: &Body, name: &str) -> Result<Variable> {
    let mut var = Variable::default();
    for e in &body.entries {
        let at = format!("{name}:{}:{}", e.pos.line, e.pos.col);
        let string = |v: &Value| match v {
            Value::Str(s) => Ok(s.clone()),
            other => Err(anyhow!(
                "{at}: {:?} must be a string, found {}",
                e.key,
                other.kind()
            )),
        };
        match e.key.as_str() {
            "path" => var.path = string(&e.value.value)?,
            "namespace" => var.namespace = string(&e.value.value)?,
            "items" => {
                let Value::Map(items) = &e.value.value else {
                    bail!("{at}: items must be a block of key = \"value\" pairs");
                };
                for item in &items.entries {
                    let Value::Str(v) = &item.value.value else {
                        bail!(
                            "{name}:{}:{}: item {:?} must be a string, found {}",
                            item.pos.line,
                            item.pos.col,
                            item.key,
                            item.value.value.kind()
                        );
                    };
                    var.items.insert(item.key.clone(), v.clone());
                }
            }
            other => bail!("{at}: unknown key {other:?} in a variable specification: use path, namespace and items"),
        }
    }
    Ok(var)
}

/// Loads `@file` (format from its extension, else `default`) or `-` (stdin, in `default`).
pub fn load_spec(arg: &str, default: InFormat, stdin: &mut Stdin) -> Result<Variable> {
    if arg == "-" {
        let text = stdin.read("the variable specification")?;
        return parse_spec(&text, default, "<stdin>");
    }
    let file = arg.strip_prefix('@').unwrap_or(arg);
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
    let format = if file.ends_with(".json") {
        InFormat::Json
    } else if file.ends_with(".hcl") || file.ends_with(".nv.hcl") {
        InFormat::Hcl
    } else {
        default
    };
    parse_spec(&text, format, file)
}

/// Adds `key=value`, `key=@file` and `key=-` items to `var`.
pub fn add_items(var: &mut Variable, items: &[String], stdin: &mut Stdin) -> Result<()> {
    for item in items {
        let Some((k, v)) = item.split_once('=') else {
            bail!("invalid item {item:?}: write key=value, key=@file or key=-");
        };
        if k.is_empty() {
            bail!("invalid item {item:?}: the key is empty");
        }
        let value = if v == "-" {
            stdin.read(&format!("the value of {k:?}"))?
        } else if let Some(file) = v.strip_prefix('@') {
            std::fs::read_to_string(file)
                .with_context(|| format!("reading the value of {k:?} from {file}"))?
        } else {
            v.to_string()
        };
        var.items.insert(k.to_string(), value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hcl_and_json_specs_read_alike() {
        let hcl = "path = \"app/db\"\nitems {\n  user = \"me\"\n  pass = \"s3cret\"\n}\n";
        let json =
            r#"{"Path": "app/db", "Namespace": null, "Items": {"user": "me", "pass": "s3cret"}}"#;
        let a = parse_spec(hcl, InFormat::Hcl, "a.hcl").unwrap();
        let b = parse_spec(json, InFormat::Json, "a.json").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.items["pass"], "s3cret");
        let e = parse_spec("path = 3\n", InFormat::Hcl, "x.hcl")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.hcl:1:1:"), "{e}");
        let e = parse_spec("paths = \"a\"\n", InFormat::Hcl, "x.hcl")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown key \"paths\""), "{e}");
    }

    #[test]
    fn command_line_items() {
        let mut v = Variable::default();
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("cert.pem");
        std::fs::write(&f, "PEM").unwrap();
        let items = vec![
            "a=1".to_string(),
            format!("cert=@{}", f.display()),
            "eq=x=y".into(),
        ];
        add_items(&mut v, &items, &mut Stdin::default()).unwrap();
        assert_eq!(v.items["a"], "1");
        assert_eq!(v.items["cert"], "PEM");
        assert_eq!(v.items["eq"], "x=y");
        assert!(add_items(&mut v, &["novalue".into()], &mut Stdin::default()).is_err());
    }
}
