//! String templates: `"${var.x}-${NOMAD_ALLOC_INDEX}"`, heredocs, `%{ if }` and `%{ for }`.
//!
//! An interpolation that reads a name the job file does not define (`attr`, `node`, `meta`,
//! `NOMAD_*`, `env`) is the client's business: it is kept as written, as Nomad does, and the
//! agent interpolates it when the task starts.

use super::eval::{Evaluator, R};
use super::scope::Scope;
use super::value::{describe, to_template_string};
use hcl_edit::template::{Directive, Element, Strip};
use serde_json::Value;

/// Builds a template's text, applying the `~` strip markers to the literal text beside them.
#[derive(Default)]
struct Writer {
    out: String,
    /// Where the last piece began, when that piece was literal text (only literal text is
    /// stripped).
    literal_from: Option<usize>,
    trim_next: bool,
}

impl Writer {
    fn literal(&mut self, s: &str) {
        let s = if std::mem::take(&mut self.trim_next) {
            s.trim_start()
        } else {
            s
        };
        self.literal_from = Some(self.out.len());
        self.out.push_str(s);
    }

    fn value(&mut self, s: &str) {
        self.trim_next = false;
        self.literal_from = None;
        self.out.push_str(s);
    }

    fn strip(&mut self, strip: Strip) {
        if strip.strip_start() {
            if let Some(from) = self.literal_from {
                let kept = self.out[from..].trim_end().len();
                self.out.truncate(from + kept);
            }
        }
    }

    fn strip_after(&mut self, strip: Strip) {
        if strip.strip_end() {
            self.trim_next = true;
        }
    }
}

impl Evaluator<'_> {
    /// A template's value: a template that is one interpolation and nothing else yields that
    /// value unconverted (`"${var.ports}"` is a list), as HCL specifies; otherwise a string.
    pub fn template_value<'t>(
        &self,
        elements: impl Iterator<Item = &'t Element>,
        scope: &Scope,
    ) -> R<Value> {
        let elements: Vec<&Element> = elements.collect();
        if let [Element::Interpolation(i)] = elements.as_slice() {
            if scope.binds_all(&i.expr) {
                return self.eval(&i.expr, scope);
            }
        }
        let mut w = Writer::default();
        self.render(elements.into_iter(), scope, &mut w)?;
        Ok(Value::String(w.out))
    }

    fn render<'t>(
        &self,
        elements: impl Iterator<Item = &'t Element>,
        scope: &Scope,
        w: &mut Writer,
    ) -> R<()> {
        for el in elements {
            match el {
                Element::Literal(l) => w.literal(l.value()),
                Element::Interpolation(i) => {
                    w.strip(i.strip);
                    if scope.binds_all(&i.expr) {
                        let v = self.eval(&i.expr, scope)?;
                        let s = to_template_string(&v).map_err(|m| self.err(&i.expr, m))?;
                        w.value(&s);
                    } else {
                        w.value(self.text(el));
                    }
                    w.strip_after(i.strip);
                }
                Element::Directive(d) => match d.as_ref() {
                    Directive::If(d) => {
                        w.strip(d.if_expr.strip);
                        let cond = &d.if_expr.cond_expr;
                        let truth = match self.eval(cond, scope)? {
                            Value::Bool(b) => b,
                            other => {
                                return Err(self.err(
                                    cond,
                                    format!("%{{ if }} needs a bool, found {}", describe(&other)),
                                ))
                            }
                        };
                        let end_strip = d.endif_expr.strip;
                        if truth {
                            w.strip_after(d.if_expr.strip);
                            self.render(d.if_expr.template.iter(), scope, w)?;
                            w.strip(d.else_expr.as_ref().map_or(end_strip, |e| e.strip));
                        } else if let Some(e) = &d.else_expr {
                            w.strip_after(e.strip);
                            self.render(e.template.iter(), scope, w)?;
                            w.strip(end_strip);
                        }
                        w.strip_after(end_strip);
                    }
                    Directive::For(d) => {
                        let f = &d.for_expr;
                        w.strip(f.strip);
                        let coll = self.eval(&f.collection_expr, scope)?;
                        for (k, v) in self.iterate(coll, &f.collection_expr)? {
                            let mut inner = scope.child();
                            if let Some(kv) = &f.key_var {
                                inner.set(kv.as_str(), k);
                            }
                            inner.set(f.value_var.as_str(), v);
                            w.strip_after(f.strip);
                            self.render(f.template.iter(), &inner, w)?;
                            w.strip(d.endfor_expr.strip);
                        }
                        w.strip_after(d.endfor_expr.strip);
                    }
                },
            }
        }
        Ok(())
    }
}

/// `templatefile(path, vars)`: renders a file as a template that sees only `vars` (and the
/// functions), as Terraform's does.
pub fn templatefile(ev: &Evaluator, args: Vec<Value>) -> Result<Value, String> {
    let [path, vars]: [Value; 2] = args
        .try_into()
        .map_err(|_| "expects a path and an object of variables".to_string())?;
    let Value::String(path) = path else {
        return Err(format!(
            "the path must be a string, found {}",
            describe(&path)
        ));
    };
    let Value::Object(vars) = vars else {
        return Err(format!(
            "the variables must be an object, found {}",
            describe(&vars)
        ));
    };
    let full = ev.base_dir.unwrap_or(std::path::Path::new("")).join(&path);
    let text = std::fs::read_to_string(&full)
        .map_err(|e| format!("cannot read {}: {e}", full.display()))?;
    let template =
        hcl_edit::parser::parse_template(&text).map_err(|e| format!("{path}: {}", e.message()))?;
    let inner = Evaluator::new(&text, ev.base_dir);
    let scope = Scope::root(vars.into_iter().collect());
    let mut w = Writer::default();
    inner
        .render(template.iter(), &scope, &mut w)
        .map_err(|e| format!("{path}:{}:{}: {}", e.pos.line, e.pos.col, e.message))?;
    Ok(Value::String(w.out))
}
