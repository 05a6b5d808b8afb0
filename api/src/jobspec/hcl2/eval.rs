//! Evaluates HCL expressions over `hcl-edit`'s syntax tree, which keeps byte spans, so an error
//! points at the sub-expression that caused it.

use super::funcs::{self, FuncEnv, FuncError};
use super::scope::Scope;
use super::types;
use super::value::{as_f64, describe, num, to_template_string};
use crate::jobspec::suggest::did_you_mean;
use crate::jobspec::tree::{LineIndex, Pos, TreeError};
use hcl_edit::expr::{
    BinaryOperator, Conditional, Expression, ForExpr, FuncCall, ObjectKey, TraversalOperator,
    UnaryOperator,
};
use hcl_edit::Span;
use serde_json::{Map, Value};
use std::path::Path;

pub type R<T> = Result<T, TreeError>;

/// Evaluates expressions of one source text (a job file, or a `templatefile` template).
pub struct Evaluator<'a> {
    pub(crate) src: &'a str,
    lines: LineIndex<'a>,
    /// Where `file()` and `templatefile()` read; `None` when the file came through the API,
    /// which must not read the agent's files.
    pub(super) base_dir: Option<&'a Path>,
}

impl<'a> Evaluator<'a> {
    pub fn new(src: &'a str, base_dir: Option<&'a Path>) -> Self {
        Evaluator {
            src,
            lines: LineIndex::new(src),
            base_dir,
        }
    }

    pub fn pos(&self, span: Option<std::ops::Range<usize>>) -> Pos {
        span.map_or(Pos::default(), |r| self.lines.pos(r.start))
    }

    pub fn err(&self, at: &impl Span, msg: impl Into<String>) -> TreeError {
        TreeError::new(self.pos(at.span()), msg)
    }

    /// The source text of a node, for messages and for runtime interpolations kept verbatim.
    pub fn text(&self, at: &impl Span) -> &'a str {
        at.span().and_then(|r| self.src.get(r)).unwrap_or("")
    }

    pub fn eval(&self, e: &Expression, scope: &Scope) -> R<Value> {
        match e {
            Expression::Null(_) => Ok(Value::Null),
            Expression::Bool(b) => Ok(Value::Bool(*b.value())),
            Expression::Number(n) => Ok(match n.value().as_i64() {
                Some(i) if !n.value().is_f64() => Value::from(i),
                _ => num(n.value().as_f64().unwrap_or(f64::NAN)),
            }),
            Expression::String(s) => Ok(Value::String(s.value().clone())),
            Expression::Array(a) => a
                .iter()
                .map(|x| self.eval(x, scope))
                .collect::<R<Vec<_>>>()
                .map(Value::Array),
            Expression::Object(o) => {
                let mut out = Map::new();
                for (k, v) in o.iter() {
                    let key = self.object_key(k, scope)?;
                    out.insert(key, self.eval(v.expr(), scope)?);
                }
                Ok(Value::Object(out))
            }
            Expression::StringTemplate(t) => self.template_value(t.iter(), scope),
            Expression::HeredocTemplate(h) => self.template_value(h.template.iter(), scope),
            Expression::Parenthesis(p) => self.eval(p.inner(), scope),
            Expression::Variable(v) => match scope.get(v.as_str()) {
                Some(x) => Ok(x.clone()),
                None => self.runtime(v.as_str(), e),
            },
            Expression::Traversal(t) => {
                if let Expression::Variable(root) = &t.expr {
                    let root = root.as_str();
                    let Some(base) = scope.get(root) else {
                        return self.runtime(root, e);
                    };
                    // `var.x` / `local.x` that nobody declared: say how to declare it.
                    if let (Value::Object(m), Some(op)) = (base, t.operators.first()) {
                        if let TraversalOperator::GetAttr(n) = op.value() {
                            let n = n.as_str();
                            if !m.contains_key(n) && matches!(root, "var" | "local") {
                                let how = if root == "var" {
                                    format!("declare it with variable {n:?} {{ ... }}")
                                } else {
                                    format!("define it in a locals block: {n} = ...")
                                };
                                return Err(self.err(
                                    e,
                                    format!(
                                        "there is no {} {n:?}: {how}{}",
                                        if root == "var" { "variable" } else { "local" },
                                        did_you_mean(n, m.keys().map(String::as_str))
                                    ),
                                ));
                            }
                        }
                    }
                }
                let base = self.eval(&t.expr, scope)?;
                self.traverse(base, &t.operators, scope)
            }
            Expression::FuncCall(f) => self.call(e, f, scope),
            Expression::Conditional(c) => self.conditional(c, scope),
            Expression::ForExpr(f) => self.for_expr(f, scope),
            Expression::UnaryOp(u) => {
                let v = self.eval(&u.expr, scope)?;
                match (u.operator.value(), &v) {
                    (UnaryOperator::Neg, Value::Number(_)) => Ok(num(-as_f64(&v).unwrap_or(0.0))),
                    (UnaryOperator::Not, Value::Bool(b)) => Ok(Value::Bool(!b)),
                    (UnaryOperator::Neg, _) => {
                        Err(self.err(e, format!("cannot negate {}", describe(&v))))
                    }
                    (UnaryOperator::Not, _) => {
                        Err(self.err(e, format!("! needs a bool, found {}", describe(&v))))
                    }
                }
            }
            Expression::BinaryOp(b) => {
                let l = self.eval(&b.lhs_expr, scope)?;
                let r = self.eval(&b.rhs_expr, scope)?;
                binary(*b.operator.value(), l, r).map_err(|m| self.err(e, m))
            }
        }
    }

    pub fn object_key(&self, k: &ObjectKey, scope: &Scope) -> R<String> {
        match k {
            ObjectKey::Ident(i) => Ok(i.as_str().to_string()),
            ObjectKey::Expression(e) => {
                let v = self.eval(e, scope)?;
                to_template_string(&v).map_err(|m| self.err(e, format!("object key: {m}")))
            }
        }
    }

    fn traverse(
        &self,
        mut v: Value,
        ops: &[hcl_edit::Decorated<TraversalOperator>],
        scope: &Scope,
    ) -> R<Value> {
        for (i, op) in ops.iter().enumerate() {
            v = match op.value() {
                TraversalOperator::AttrSplat(_) | TraversalOperator::FullSplat(_) => {
                    let items = match v {
                        Value::Null => Vec::new(),
                        Value::Array(items) => items,
                        // A splat over a single value treats it as a list of one.
                        other => vec![other],
                    };
                    return items
                        .into_iter()
                        .map(|x| self.traverse(x, &ops[i + 1..], scope))
                        .collect::<R<Vec<_>>>()
                        .map(Value::Array);
                }
                TraversalOperator::GetAttr(name) => self.attr(v, name.as_str(), op)?,
                TraversalOperator::LegacyIndex(n) => {
                    index(v, &Value::from(*n.value())).map_err(|m| self.err(op, m))?
                }
                TraversalOperator::Index(e) => {
                    let key = self.eval(e, scope)?;
                    index(v, &key).map_err(|m| self.err(e, m))?
                }
            };
        }
        Ok(v)
    }

    /// A name the file does not define, written bare (`ARCH = attr.cpu.arch`): Nomad keeps it
    /// as the string `"${attr.cpu.arch}"` for the client's runtime interpolation, and so does
    /// this. `var` and `local` are always defined, so their typos still fail.
    fn runtime(&self, root: &str, e: &Expression) -> R<Value> {
        if matches!(root, "var" | "local") {
            return Err(self.err(e, format!("{root} is not available here")));
        }
        Ok(Value::String(format!("${{{}}}", self.text(e).trim())))
    }

    fn attr(&self, v: Value, name: &str, at: &impl Span) -> R<Value> {
        match v {
            Value::Object(mut m) => match m.remove(name) {
                Some(x) => Ok(x),
                None => {
                    let keys: Vec<&str> = m.keys().map(String::as_str).collect();
                    Err(self.err(
                        at,
                        format!(
                            "there is no attribute {name:?}{}",
                            did_you_mean(name, keys.iter().copied())
                        ),
                    ))
                }
            },
            other => Err(self.err(
                at,
                format!("cannot read attribute {name:?} of {}", describe(&other)),
            )),
        }
    }

    fn conditional(&self, c: &Conditional, scope: &Scope) -> R<Value> {
        match self.eval(&c.cond_expr, scope)? {
            Value::Bool(true) => self.eval(&c.true_expr, scope),
            Value::Bool(false) => self.eval(&c.false_expr, scope),
            other => Err(self.err(
                &c.cond_expr,
                format!("a condition must be a bool, found {}", describe(&other)),
            )),
        }
    }

    /// The elements a `for` iterates: (key, value), lists keyed by index.
    pub fn iterate(&self, coll: Value, at: &impl Span) -> R<Vec<(Value, Value)>> {
        match coll {
            Value::Array(items) => Ok(items
                .into_iter()
                .enumerate()
                .map(|(i, x)| (Value::from(i), x))
                .collect()),
            Value::Object(m) => Ok(m.into_iter().map(|(k, x)| (Value::String(k), x)).collect()),
            Value::Null => Err(self.err(at, "cannot iterate over null")),
            other => Err(self.err(
                at,
                format!(
                    "can only iterate over a list or a map, found {}",
                    describe(&other)
                ),
            )),
        }
    }

    fn for_expr(&self, f: &ForExpr, scope: &Scope) -> R<Value> {
        let coll = self.eval(&f.intro.collection_expr, scope)?;
        let items = self.iterate(coll, &f.intro.collection_expr)?;
        let mut list = Vec::new();
        let mut object = Map::new();
        for (k, v) in items {
            let mut inner = scope.child();
            if let Some(kv) = &f.intro.key_var {
                inner.set(kv.as_str(), k);
            }
            inner.set(f.intro.value_var.as_str(), v);
            if let Some(cond) = &f.cond {
                match self.eval(&cond.expr, &inner)? {
                    Value::Bool(true) => {}
                    Value::Bool(false) => continue,
                    other => {
                        return Err(self.err(
                            &cond.expr,
                            format!("a for condition must be a bool, found {}", describe(&other)),
                        ))
                    }
                }
            }
            let value = self.eval(&f.value_expr, &inner)?;
            match &f.key_expr {
                None => list.push(value),
                Some(ke) => {
                    let key = to_template_string(&self.eval(ke, &inner)?)
                        .map_err(|m| self.err(ke, format!("a for key: {m}")))?;
                    if f.grouping {
                        match object
                            .entry(key)
                            .or_insert_with(|| Value::Array(Vec::new()))
                        {
                            Value::Array(group) => group.push(value),
                            _ => unreachable!("groups are arrays"),
                        }
                    } else if object.insert(key.clone(), value).is_some() {
                        return Err(self.err(
                            ke,
                            format!(
                                "two elements have the key {key:?}: add \"...\" after the value \
                                 to group them"
                            ),
                        ));
                    }
                }
            }
        }
        Ok(match f.key_expr {
            None => Value::Array(list),
            Some(_) => Value::Object(object),
        })
    }

    fn call(&self, e: &Expression, f: &FuncCall, scope: &Scope) -> R<Value> {
        let name = f.name.name.as_str();
        if !f.name.namespace.is_empty() {
            return Err(self.err(
                e,
                format!(
                    "namespaced functions are not supported: {}",
                    f.name
                        .namespace
                        .iter()
                        .map(|n| n.as_str())
                        .chain([name])
                        .collect::<Vec<_>>()
                        .join("::")
                ),
            ));
        }
        let args: Vec<&Expression> = f.args.iter().collect();
        // These take their arguments unevaluated.
        match name {
            "try" => return self.try_(e, &args, scope),
            "can" => {
                let [a] = args.as_slice() else {
                    return Err(self.err(e, "function can: expects 1 argument"));
                };
                return Ok(Value::Bool(self.eval(a, scope).is_ok()));
            }
            "convert" => {
                let [v, t] = args.as_slice() else {
                    return Err(self.err(e, "function convert: expects a value and a type"));
                };
                let value = self.eval(v, scope)?;
                let ty = types::parse(t, &mut |d| self.eval(d, scope).map_err(|e| e.message))
                    .map_err(|m| self.err(*t, m))?;
                return types::convert(value, &ty)
                    .map_err(|m| self.err(e, format!("function convert: {m}")));
            }
            _ => {}
        }
        let mut values = Vec::with_capacity(args.len());
        for a in &args {
            values.push(self.eval(a, scope)?);
        }
        if f.args.expand_final() {
            match values.pop() {
                Some(Value::Array(rest)) => values.extend(rest),
                Some(other) => {
                    return Err(self.err(
                        e,
                        format!(
                            "only a list can be expanded with ..., found {}",
                            describe(&other)
                        ),
                    ))
                }
                None => {}
            }
        }
        if FILESYSTEM.contains(&name) && self.base_dir.is_none() {
            return Err(self.err(
                e,
                format!(
                    "function {name}: the API does not read files on the agent; run or plan the \
                     job with nomadctl, which reads them locally"
                ),
            ));
        }
        if name == "templatefile" {
            return super::template::templatefile(self, values)
                .map_err(|m| self.err(e, format!("function templatefile: {m}")));
        }
        let env = FuncEnv {
            base_dir: self.base_dir.unwrap_or(Path::new("")),
        };
        funcs::call(name, values, &env).map_err(|err| match err {
            FuncError::Unknown => {
                let mut known: Vec<&str> = funcs::names().to_vec();
                known.extend(["try", "can", "convert", "templatefile"]);
                self.err(
                    e,
                    format!(
                        "there is no function named {name:?}{}",
                        did_you_mean(name, known.iter().copied())
                    ),
                )
            }
            FuncError::Failed(m) => self.err(e, format!("function {name}: {m}")),
        })
    }

    fn try_(&self, e: &Expression, args: &[&Expression], scope: &Scope) -> R<Value> {
        let mut last = None;
        for a in args {
            match self.eval(a, scope) {
                Ok(v) => return Ok(v),
                Err(err) => last = Some(err),
            }
        }
        Err(match last {
            Some(err) => TreeError::new(
                self.pos(e.span()),
                format!(
                    "function try: no argument could be evaluated; the last failed with: {}",
                    err.message
                ),
            ),
            None => self.err(e, "function try: expects at least one argument"),
        })
    }
}

/// Functions that read the local machine, refused when parsing for the API.
const FILESYSTEM: &[&str] = &[
    "file",
    "filebase64",
    "fileexists",
    "fileset",
    "templatefile",
    "abspath",
    "pathexpand",
];

fn index(v: Value, key: &Value) -> Result<Value, String> {
    match v {
        Value::Array(mut items) => {
            let i = as_f64(key)
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .ok_or_else(|| format!("a list index must be a whole number, found {key}"))?;
            let len = items.len();
            let i = i as usize;
            if i >= len {
                return Err(format!(
                    "index {i} is out of range: the list has {len} elements"
                ));
            }
            Ok(items.swap_remove(i))
        }
        Value::Object(mut m) => {
            let k = to_template_string(key).map_err(|e| format!("a map key: {e}"))?;
            m.remove(&k).ok_or_else(|| {
                format!(
                    "there is no key {k:?}{}",
                    did_you_mean(&k, m.keys().map(String::as_str))
                )
            })
        }
        Value::Null => Err("cannot index null".into()),
        other => Err(format!("cannot index {}", describe(&other))),
    }
}

fn binary(op: BinaryOperator, l: Value, r: Value) -> Result<Value, String> {
    use BinaryOperator as B;
    match op {
        B::Eq => Ok(Value::Bool(equal(&l, &r))),
        B::NotEq => Ok(Value::Bool(!equal(&l, &r))),
        B::And | B::Or => match (&l, &r) {
            (Value::Bool(a), Value::Bool(b)) => {
                Ok(Value::Bool(if op == B::And { *a && *b } else { *a || *b }))
            }
            _ => Err(format!(
                "&& and || need bools, found {} and {}",
                describe(&l),
                describe(&r)
            )),
        },
        _ => {
            let (Some(a), Some(b)) = (as_f64(&l), as_f64(&r)) else {
                return Err(format!(
                    "arithmetic and comparison need numbers, found {} and {}",
                    describe(&l),
                    describe(&r)
                ));
            };
            Ok(match op {
                B::Less => Value::Bool(a < b),
                B::LessEq => Value::Bool(a <= b),
                B::Greater => Value::Bool(a > b),
                B::GreaterEq => Value::Bool(a >= b),
                B::Plus => num(a + b),
                B::Minus => num(a - b),
                B::Mul => num(a * b),
                B::Div if b == 0.0 => return Err("division by zero".into()),
                B::Div => num(a / b),
                B::Mod if b == 0.0 => return Err("modulo by zero".into()),
                B::Mod => num(a % b),
                B::Eq | B::NotEq | B::And | B::Or => unreachable!("handled above"),
            })
        }
    }
}

/// Equality as HCL sees it: numbers by value (1 == 1.0).
fn equal(l: &Value, r: &Value) -> bool {
    match (l, r) {
        (Value::Number(_), Value::Number(_)) => as_f64(l) == as_f64(r),
        _ => l == r,
    }
}
