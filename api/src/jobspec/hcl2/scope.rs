//! Names an expression can see: `var` and `local` at the root, then the iterators of `for`
//! expressions, template `%{ for }` directives and `dynamic` blocks, innermost first.

use hcl_edit::expr::{Expression, ObjectKey, TraversalOperator};
use hcl_edit::template::{Directive, Element};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Default)]
pub struct Scope<'p> {
    names: BTreeMap<String, Value>,
    parent: Option<&'p Scope<'p>>,
}

impl<'p> Scope<'p> {
    pub fn root(names: BTreeMap<String, Value>) -> Scope<'static> {
        Scope {
            names,
            parent: None,
        }
    }

    pub fn child(&'p self) -> Scope<'p> {
        Scope {
            names: BTreeMap::new(),
            parent: Some(self),
        }
    }

    pub fn set(&mut self, name: &str, v: Value) {
        self.names.insert(name.to_string(), v);
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.names
            .get(name)
            .or_else(|| self.parent.and_then(|p| p.get(name)))
    }

    /// Whether every variable `e` reads is known here. One that is not (`attr`, `node`,
    /// `meta`, `NOMAD_ALLOC_ID`, ...) belongs to the client's runtime interpolation, so the
    /// template that holds it keeps it as written.
    pub fn binds_all(&self, e: &Expression) -> bool {
        let mut roots = Vec::new();
        free_roots(e, &mut Vec::new(), &mut roots);
        roots.iter().all(|r| self.get(r).is_some())
    }
}

/// The root variables `e` reads that the expression does not bind itself.
pub fn free_roots(e: &Expression, bound: &mut Vec<String>, out: &mut Vec<String>) {
    let mut walk = |x: &Expression, bound: &mut Vec<String>| free_roots(x, bound, out);
    match e {
        Expression::Variable(v) => {
            let name = v.as_str();
            if !bound.iter().any(|b| b == name) {
                out.push(name.to_string());
            }
        }
        Expression::Array(a) => a.iter().for_each(|x| walk(x, bound)),
        Expression::Object(o) => {
            for (k, v) in o.iter() {
                if let ObjectKey::Expression(k) = k {
                    walk(k, bound);
                }
                walk(v.expr(), bound);
            }
        }
        Expression::StringTemplate(t) => template_roots(t.iter(), bound, out),
        Expression::HeredocTemplate(h) => template_roots(h.template.iter(), bound, out),
        Expression::Parenthesis(p) => walk(p.inner(), bound),
        Expression::Conditional(c) => {
            walk(&c.cond_expr, bound);
            walk(&c.true_expr, bound);
            walk(&c.false_expr, bound);
        }
        Expression::FuncCall(f) => f.args.iter().for_each(|x| walk(x, bound)),
        Expression::Traversal(t) => {
            walk(&t.expr, bound);
            for op in &t.operators {
                if let TraversalOperator::Index(i) = op.value() {
                    walk(i, bound);
                }
            }
        }
        Expression::UnaryOp(u) => walk(&u.expr, bound),
        Expression::BinaryOp(b) => {
            walk(&b.lhs_expr, bound);
            walk(&b.rhs_expr, bound);
        }
        Expression::ForExpr(f) => {
            walk(&f.intro.collection_expr, bound);
            let before = bound.len();
            bound.extend(f.intro.key_var.iter().map(|k| k.as_str().to_string()));
            bound.push(f.intro.value_var.as_str().to_string());
            if let Some(k) = &f.key_expr {
                walk(k, bound);
            }
            walk(&f.value_expr, bound);
            if let Some(c) = &f.cond {
                walk(&c.expr, bound);
            }
            bound.truncate(before);
        }
        Expression::Null(_) | Expression::Bool(_) | Expression::Number(_) => {}
        Expression::String(_) => {}
    }
}

fn template_roots<'t>(
    elements: impl Iterator<Item = &'t Element>,
    bound: &mut Vec<String>,
    out: &mut Vec<String>,
) {
    for el in elements {
        match el {
            Element::Literal(_) => {}
            Element::Interpolation(i) => free_roots(&i.expr, bound, out),
            Element::Directive(d) => match d.as_ref() {
                Directive::If(d) => {
                    free_roots(&d.if_expr.cond_expr, bound, out);
                    template_roots(d.if_expr.template.iter(), bound, out);
                    if let Some(e) = &d.else_expr {
                        template_roots(e.template.iter(), bound, out);
                    }
                }
                Directive::For(d) => {
                    let f = &d.for_expr;
                    free_roots(&f.collection_expr, bound, out);
                    let before = bound.len();
                    bound.extend(f.key_var.iter().map(|k| k.as_str().to_string()));
                    bound.push(f.value_var.as_str().to_string());
                    template_roots(f.template.iter(), bound, out);
                    bound.truncate(before);
                }
            },
        }
    }
}
