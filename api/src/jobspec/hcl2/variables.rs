//! Input variables: `variable "name" { type default description validation sensitive }` and
//! the older `variables { name = default }`, given values by `NOMAD_VAR_<name>`, `-var-file`
//! and `-var`, in that rising order of precedence, as Nomad does.

use super::eval::{Evaluator, R};
use super::scope::Scope;
use super::types::{self, Ty};
use super::{JobspecError, ParseOptions, VarFile};
use crate::jobspec::suggest::did_you_mean;
use crate::jobspec::tree::{Pos, TreeError};
use hcl_edit::expr::Expression;
use hcl_edit::structure::{Block, BlockLabel, Structure};
use hcl_edit::Span;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// One declared variable.
pub struct Declared<'a> {
    pub name: String,
    pub pos: Pos,
    ty: Ty,
    default: Option<Value>,
    validations: Vec<Validation<'a>>,
}

struct Validation<'a> {
    condition: &'a Expression,
    message: &'a Expression,
}

/// Reads a `variable "name" { ... }` block.
pub fn declare<'a>(ev: &Evaluator, b: &'a Block) -> R<Declared<'a>> {
    let pos = ev.pos(b.ident.span());
    let name = match b.labels.as_slice() {
        [BlockLabel::String(s)] => s.value().clone(),
        [BlockLabel::Ident(i)] => i.as_str().to_string(),
        _ => {
            return Err(TreeError::new(
                pos,
                "a variable block takes one label, its name: variable \"name\" { ... }",
            ))
        }
    };
    let empty = Scope::default();
    let mut d = Declared {
        name,
        pos,
        ty: Ty::Any,
        default: None,
        validations: Vec::new(),
    };
    let mut default_expr = None;
    for s in b.body.iter() {
        match s {
            Structure::Attribute(a) => match a.key.as_str() {
                "type" => {
                    d.ty =
                        types::parse(&a.value, &mut |e| ev.eval(e, &empty).map_err(|e| e.message))
                            .map_err(|m| ev.err(&a.value, m))?
                }
                "default" => default_expr = Some(&a.value),
                "description" => expect_string(ev, &a.value, "description")?,
                "sensitive" => {
                    if !matches!(a.value, Expression::Bool(_)) {
                        return Err(ev.err(&a.value, "sensitive must be true or false"));
                    }
                }
                other => {
                    return Err(ev.err(
                        &a.key,
                        format!(
                            "unknown attribute {other:?} in variable \"{}\"{}",
                            d.name,
                            did_you_mean(other, ["type", "default", "description", "sensitive"])
                        ),
                    ))
                }
            },
            Structure::Block(v) if v.ident.as_str() == "validation" => {
                let mut condition = None;
                let mut message = None;
                for s in v.body.iter() {
                    match s {
                        Structure::Attribute(a) if a.key.as_str() == "condition" => {
                            condition = Some(&a.value)
                        }
                        Structure::Attribute(a) if a.key.as_str() == "error_message" => {
                            message = Some(&a.value)
                        }
                        other => {
                            return Err(ev.err(
                                other,
                                "a validation block holds condition and error_message",
                            ))
                        }
                    }
                }
                match (condition, message) {
                    (Some(condition), Some(message)) => {
                        d.validations.push(Validation { condition, message })
                    }
                    _ => {
                        return Err(ev.err(
                            &v.ident,
                            "a validation block needs both condition and error_message",
                        ))
                    }
                }
            }
            Structure::Block(other) => {
                return Err(ev.err(
                    &other.ident,
                    format!(
                        "unknown block {:?} in variable \"{}\": only validation blocks go here",
                        other.ident.as_str(),
                        d.name
                    ),
                ))
            }
        }
    }
    if let Some(e) = default_expr {
        let v = ev.eval(e, &empty)?;
        d.default = Some(
            types::convert(v, &d.ty)
                .map_err(|m| ev.err(e, format!("the default does not fit the type: {m}")))?,
        );
    }
    Ok(d)
}

/// The `variables { name = default }` form: each attribute declares a variable of any type.
pub fn declare_shorthand<'a>(ev: &Evaluator, b: &'a Block) -> R<Vec<Declared<'a>>> {
    let empty = Scope::default();
    let mut out = Vec::new();
    for s in b.body.iter() {
        let Structure::Attribute(a) = s else {
            return Err(ev.err(s, "a variables block holds name = default attributes"));
        };
        out.push(Declared {
            name: a.key.as_str().to_string(),
            pos: ev.pos(a.key.span()),
            ty: Ty::Any,
            default: Some(ev.eval(&a.value, &empty)?),
            validations: Vec::new(),
        });
    }
    Ok(out)
}

fn expect_string(ev: &Evaluator, e: &Expression, what: &str) -> R<()> {
    match ev.eval(e, &Scope::default())? {
        Value::String(_) => Ok(()),
        _ => Err(ev.err(e, format!("{what} must be a string"))),
    }
}

/// Gives every declared variable its value and checks its validations. `file` names the job
/// file for errors found there; errors in a `-var-file` name that file.
pub fn resolve(
    ev: &Evaluator,
    file: &str,
    declared: &[Declared],
    opts: &ParseOptions,
) -> Result<Map<String, Value>, JobspecError> {
    let at_job = |e: TreeError| JobspecError::from_tree(file, e);
    let by_name: BTreeMap<&str, &Declared> =
        declared.iter().map(|d| (d.name.as_str(), d)).collect();
    let mut values: BTreeMap<String, Value> = BTreeMap::new();
    let from_string = |d: &Declared, raw: &str| -> Result<Value, String> {
        let v = if d.ty.takes_raw_string() {
            Value::String(raw.to_string())
        } else {
            let e = hcl_edit::parser::parse_expr(raw)
                .map_err(|e| format!("cannot read {raw:?} as HCL: {}", e.message()))?;
            let base = ev.base_dir;
            Evaluator::new(raw, base)
                .eval(&e, &Scope::default())
                .map_err(|e| e.message)?
        };
        types::convert(v, &d.ty)
    };
    for (name, raw) in &opts.env {
        // The environment is shared by every job; a name this file does not declare is not
        // an error.
        if let Some(d) = by_name.get(name.as_str()) {
            let v = from_string(d, raw)
                .map_err(|m| JobspecError::whole_file(file, format!("NOMAD_VAR_{name}: {m}")))?;
            values.insert(name.clone(), v);
        }
    }
    for vf in &opts.var_files {
        for (name, v, pos) in read_var_file(vf)? {
            let Some(d) = by_name.get(name.as_str()) else {
                return Err(JobspecError::new(
                    &vf.name,
                    pos.line,
                    pos.col,
                    undeclared(&name, &by_name),
                ));
            };
            let v = types::convert(v, &d.ty).map_err(|m| {
                JobspecError::new(
                    &vf.name,
                    pos.line,
                    pos.col,
                    format!("variable {name:?}: {m}"),
                )
            })?;
            values.insert(name, v);
        }
    }
    for (name, raw) in &opts.vars {
        let Some(d) = by_name.get(name.as_str()) else {
            return Err(JobspecError::whole_file(
                file,
                format!("-var {name}: {}", undeclared(name, &by_name)),
            ));
        };
        let v = from_string(d, raw)
            .map_err(|m| JobspecError::whole_file(file, format!("-var {name}: {m}")))?;
        values.insert(name.clone(), v);
    }
    let mut out = Map::new();
    for d in declared {
        let v = match values.remove(&d.name).or_else(|| d.default.clone()) {
            Some(v) => v,
            None => {
                return Err(JobspecError::new(
                    file,
                    d.pos.line,
                    d.pos.col,
                    format!(
                        "variable {:?} has no value: set it with -var {0}=..., a -var-file, or \
                         NOMAD_VAR_{0}, or give it a default",
                        d.name
                    ),
                ))
            }
        };
        for check in &d.validations {
            let mut scope = Scope::default();
            scope.set(
                "var",
                Value::Object(Map::from_iter([(d.name.clone(), v.clone())])),
            );
            match ev.eval(check.condition, &scope).map_err(at_job)? {
                Value::Bool(true) => {}
                Value::Bool(false) => {
                    let msg = match ev.eval(check.message, &scope).map_err(at_job)? {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    let pos = ev.pos(check.condition.span());
                    return Err(JobspecError::new(
                        file,
                        pos.line,
                        pos.col,
                        format!("invalid value for variable {:?}: {msg}", d.name),
                    ));
                }
                _ => {
                    return Err(at_job(
                        ev.err(check.condition, "a validation condition must be a bool"),
                    ))
                }
            }
        }
        out.insert(d.name.clone(), v);
    }
    Ok(out)
}

fn undeclared(name: &str, by_name: &BTreeMap<&str, &Declared>) -> String {
    format!(
        "the job file declares no variable {name:?}{}; declare it with variable {name:?} {{}}",
        did_you_mean(name, by_name.keys().copied())
    )
}

/// A `-var-file`: HCL `name = value` lines, or a JSON object.
fn read_var_file(vf: &VarFile) -> Result<Vec<(String, Value, Pos)>, JobspecError> {
    let trimmed = vf.text.trim_start();
    if vf.name.ends_with(".json") || trimmed.starts_with('{') {
        let v: Value = serde_json::from_str(&vf.text).map_err(|e| {
            JobspecError::new(&vf.name, e.line(), e.column(), format!("invalid JSON: {e}"))
        })?;
        let Value::Object(m) = v else {
            return Err(JobspecError::whole_file(
                &vf.name,
                "a JSON var file holds one object of name: value",
            ));
        };
        return Ok(m.into_iter().map(|(k, v)| (k, v, Pos::default())).collect());
    }
    let body = hcl_edit::parser::parse_body(&vf.text).map_err(|e| {
        let loc = e.location();
        JobspecError::new(
            &vf.name,
            loc.line(),
            loc.column(),
            format!("HCL syntax error: {}", e.message()),
        )
    })?;
    let ev = Evaluator::new(&vf.text, vf.base_dir.as_deref());
    let mut out = Vec::new();
    for s in body.iter() {
        let Structure::Attribute(a) = s else {
            let p = ev.pos(s.span());
            return Err(JobspecError::new(
                &vf.name,
                p.line,
                p.col,
                "a var file holds name = value lines, not blocks",
            ));
        };
        let v = ev
            .eval(&a.value, &Scope::default())
            .map_err(|e| JobspecError::from_tree(&vf.name, e))?;
        out.push((a.key.as_str().to_string(), v, ev.pos(a.key.span())));
    }
    Ok(out)
}
