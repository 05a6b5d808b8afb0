//! HCL2 as Nomad evaluates job files: input variables, `locals`, functions, `for` expressions,
//! conditionals, splats, template directives and `dynamic` blocks.
//!
//! The file is evaluated once, here, into the same positioned tree the other front-ends make;
//! the job decoder never sees an expression. Interpolations of names the file does not define
//! (`${attr.kernel.name}`, `${NOMAD_ALLOC_ID}`, `${meta.rack}`) are kept as written for the
//! client's runtime interpolation. The agent's own config is not evaluated (see
//! [`super::hcl::parse`]).

pub(crate) mod eval;
pub mod funcs;
pub(crate) mod scope;
mod template;
mod types;
mod value;
mod variables;

use super::hcl::Converter;
use super::tree::{Body, Pos, TreeError};
use super::JobspecError;
use eval::Evaluator;
use hcl_edit::expr::{Expression, TraversalOperator};
use hcl_edit::structure::Structure;
use hcl_edit::visit::Visit;
use scope::Scope;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// Where a job file's variables get their values, and where `file()` looks.
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// `-var name=value`, in the order given; a later one wins.
    pub vars: Vec<(String, String)>,
    /// `-var-file` files, in the order given.
    pub var_files: Vec<VarFile>,
    /// `NOMAD_VAR_<name>` from the environment, with the prefix removed.
    pub env: Vec<(String, String)>,
    /// The job file's directory; `file("x")` reads from here. `None` (the API's parse) refuses
    /// the functions that read files.
    pub base_dir: Option<PathBuf>,
}

/// A variables file's name (for errors) and text.
#[derive(Debug, Clone)]
pub struct VarFile {
    pub name: String,
    pub text: String,
    /// Its directory, for `file()` inside it; `None` refuses reading files.
    pub base_dir: Option<PathBuf>,
}

impl ParseOptions {
    /// `NOMAD_VAR_*` from this process's environment.
    pub fn with_process_env(mut self) -> Self {
        self.env = std::env::vars()
            .filter_map(|(k, v)| Some((k.strip_prefix("NOMAD_VAR_")?.to_string(), v)))
            .collect();
        self
    }
}

/// Parses and evaluates an HCL job file into the positioned tree.
pub fn parse(src: &str, file: &str, opts: &ParseOptions) -> Result<Body, JobspecError> {
    let at = |e: TreeError| JobspecError::from_tree(file, e);
    let body = hcl_edit::parser::parse_body(src).map_err(|e| {
        let loc = e.location();
        JobspecError::new(
            file,
            loc.line(),
            loc.column(),
            format!("HCL syntax error: {}", e.message()),
        )
    })?;
    let ev = Evaluator::new(src, opts.base_dir.as_deref());
    let mut declared = Vec::new();
    let mut locals = Vec::new();
    let mut rest = Vec::new();
    for s in body.iter() {
        match s {
            Structure::Block(b) if b.ident.as_str() == "variable" => {
                declared.push(variables::declare(&ev, b).map_err(at)?)
            }
            Structure::Block(b) if b.ident.as_str() == "variables" => {
                declared.extend(variables::declare_shorthand(&ev, b).map_err(at)?)
            }
            Structure::Block(b) if b.ident.as_str() == "locals" => {
                for s in b.body.iter() {
                    let Structure::Attribute(a) = s else {
                        return Err(at(ev.err(s, "a locals block holds name = value attributes")));
                    };
                    locals.push(a);
                }
            }
            other => rest.push(other),
        }
    }
    let mut seen = BTreeSet::new();
    for d in &declared {
        if !seen.insert(d.name.as_str()) {
            return Err(JobspecError::new(
                file,
                d.pos.line,
                d.pos.col,
                format!("variable {:?} is declared twice", d.name),
            ));
        }
    }
    let vars = variables::resolve(&ev, file, &declared, opts)?;
    let mut scope = Scope::root(BTreeMap::from([("var".to_string(), Value::Object(vars))]));
    let locals = resolve_locals(&ev, &locals, &scope).map_err(at)?;
    scope.set("local", Value::Object(locals));
    let conv = Converter::evaluating(&ev);
    let mut entries = Vec::new();
    for s in rest {
        conv.structure(s, &scope, &mut entries).map_err(at)?;
    }
    Ok(Body { entries })
}

/// Evaluates `locals`, each after the locals it reads; a cycle is an error naming it.
fn resolve_locals(
    ev: &Evaluator,
    defs: &[&hcl_edit::structure::Attribute],
    base: &Scope,
) -> Result<Map<String, Value>, TreeError> {
    let mut by_name = BTreeMap::new();
    for a in defs {
        if by_name.insert(a.key.as_str(), *a).is_some() {
            return Err(ev.err(
                &a.key,
                format!("local {:?} is defined twice", a.key.as_str()),
            ));
        }
    }
    let mut done = Map::new();
    let mut visiting = Vec::new();
    for a in defs {
        resolve_local(ev, a.key.as_str(), &by_name, base, &mut done, &mut visiting)?;
    }
    Ok(done)
}

fn resolve_local<'a>(
    ev: &Evaluator,
    name: &'a str,
    by_name: &BTreeMap<&'a str, &'a hcl_edit::structure::Attribute>,
    base: &Scope,
    done: &mut Map<String, Value>,
    visiting: &mut Vec<&'a str>,
) -> Result<(), TreeError> {
    if done.contains_key(name) {
        return Ok(());
    }
    let Some(a) = by_name.get(name) else {
        return Ok(()); // an unknown local is reported where it is read
    };
    if visiting.contains(&name) {
        let cycle = visiting.join(" -> ");
        return Err(ev.err(
            &a.key,
            format!("locals refer to each other in a cycle: {cycle} -> {name}"),
        ));
    }
    visiting.push(name);
    let mut refs = LocalRefs::default();
    refs.visit_expr(&a.value);
    for dep in refs.0 {
        if let Some((k, _)) = by_name.get_key_value(dep.as_str()) {
            resolve_local(ev, k, by_name, base, done, visiting)?;
        }
    }
    visiting.pop();
    let mut scope = base.child();
    scope.set("local", Value::Object(done.clone()));
    let v = ev.eval(&a.value, &scope)?;
    done.insert(name.to_string(), v);
    Ok(())
}

/// The names a local's expression reads as `local.<name>`.
#[derive(Default)]
struct LocalRefs(Vec<String>);

impl Visit for LocalRefs {
    fn visit_traversal(&mut self, t: &hcl_edit::expr::Traversal) {
        if let (Expression::Variable(v), Some(op)) = (&t.expr, t.operators.first()) {
            if v.as_str() == "local" {
                if let TraversalOperator::GetAttr(n) = op.value() {
                    self.0.push(n.as_str().to_string());
                }
            }
        }
        hcl_edit::visit::visit_traversal(self, t);
    }
}

/// A JSON value as a tree node, every part placed at `pos` (where its expression starts).
pub(crate) fn json_node(v: Value, pos: Pos) -> super::tree::Node {
    use super::tree::{Entry, Form, Node, Value as T};
    let value = match v {
        Value::Null => T::Null,
        Value::Bool(b) => T::Bool(b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => T::Int(i),
            None => T::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => T::Str(s),
        Value::Array(items) => T::List(items.into_iter().map(|x| json_node(x, pos)).collect()),
        Value::Object(m) => T::Map(Body {
            entries: m
                .into_iter()
                .map(|(key, x)| Entry {
                    key,
                    pos,
                    form: Form::Attribute,
                    labels: Vec::new(),
                    value: json_node(x, pos),
                })
                .collect(),
        }),
    };
    Node { pos, value }
}

#[cfg(test)]
mod tests;
