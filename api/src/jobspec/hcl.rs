//! HCL front-end: `hcl-edit`'s syntax tree (which keeps byte spans) -> the positioned tree.
//!
//! For the agent's config nothing is evaluated: `"${attr.kernel.name}"` stays as written and
//! function calls, variables and operators are refused with their position. Job files go
//! through [`super::hcl2`], which drives the same [`Converter`] with an evaluator.

use super::hcl2::eval::Evaluator;
use super::hcl2::json_node;
use super::hcl2::scope::Scope;
use super::tree::{Body, Entry, Form, Label, LineIndex, Node, Pos, TreeError, Value};
use hcl_edit::expr::{Expression, ObjectKey, UnaryOperator};
use hcl_edit::structure::{Block, BlockLabel, Structure};
use hcl_edit::template::Element;
use hcl_edit::Span;

/// Parses HCL source into the positioned tree (the root body), evaluating nothing.
pub fn parse(src: &str) -> Result<Body, TreeError> {
    let body = hcl_edit::parser::parse_body(src).map_err(|e| {
        let loc = e.location();
        let pos = Pos {
            line: loc.line(),
            col: loc.column(),
        };
        TreeError::new(pos, format!("HCL syntax error: {}", e.message()))
    })?;
    let conv = Converter {
        src,
        lines: LineIndex::new(src),
        ev: None,
    };
    conv.body(&body, &Scope::default())
}

pub(crate) struct Converter<'a> {
    src: &'a str,
    lines: LineIndex<'a>,
    /// Set for job files: expressions are evaluated and `dynamic` blocks expanded.
    ev: Option<&'a Evaluator<'a>>,
}

impl<'a> Converter<'a> {
    pub(crate) fn evaluating(ev: &'a Evaluator<'a>) -> Self {
        Converter {
            src: ev.src,
            lines: LineIndex::new(ev.src),
            ev: Some(ev),
        }
    }

    fn pos(&self, span: Option<std::ops::Range<usize>>) -> Pos {
        span.map_or(Pos::default(), |r| self.lines.pos(r.start))
    }

    fn body(&self, body: &hcl_edit::structure::Body, scope: &Scope) -> Result<Body, TreeError> {
        let mut entries = Vec::new();
        for s in body.iter() {
            self.structure(s, scope, &mut entries)?;
        }
        Ok(Body { entries })
    }

    pub(crate) fn structure(
        &self,
        s: &Structure,
        scope: &Scope,
        entries: &mut Vec<Entry>,
    ) -> Result<(), TreeError> {
        match s {
            Structure::Attribute(a) => entries.push(Entry {
                key: a.key.as_str().to_string(),
                pos: self.pos(a.key.span()),
                form: Form::Attribute,
                labels: Vec::new(),
                value: self.expr(&a.value, scope)?,
            }),
            Structure::Block(b) if b.ident.as_str() == "dynamic" && self.ev.is_some() => {
                self.dynamic(b, scope, entries)?
            }
            Structure::Block(b) => {
                let pos = self.pos(b.ident.span());
                let labels = b
                    .labels
                    .iter()
                    .map(|l| Label {
                        name: match l {
                            BlockLabel::Ident(i) => i.as_str().to_string(),
                            BlockLabel::String(s) => s.value().clone(),
                        },
                        pos: self.pos(l.span()),
                    })
                    .collect();
                entries.push(Entry {
                    key: b.ident.as_str().to_string(),
                    pos,
                    form: Form::Block,
                    labels,
                    value: Node {
                        pos,
                        value: Value::Map(self.body(&b.body, scope)?),
                    },
                });
            }
        }
        Ok(())
    }

    /// `dynamic "port" { for_each = ..., iterator = p, labels = [...], content { ... } }`: one
    /// `port` block per element, its content seeing the element as `p.key` and `p.value`.
    fn dynamic(&self, b: &Block, scope: &Scope, entries: &mut Vec<Entry>) -> Result<(), TreeError> {
        let pos = self.pos(b.ident.span());
        let Some(ev) = self.ev else {
            return Err(TreeError::new(
                pos,
                "dynamic blocks are only allowed in job files",
            ));
        };
        let kind = match b.labels.as_slice() {
            [BlockLabel::String(s)] => s.value().clone(),
            [BlockLabel::Ident(i)] => i.as_str().to_string(),
            _ => {
                return Err(TreeError::new(
                    pos,
                    "a dynamic block takes one label, the kind of block it makes: dynamic \"port\" { ... }",
                ))
            }
        };
        let (mut for_each, mut iterator, mut labels, mut content) = (None, None, None, None);
        for s in b.body.iter() {
            match s {
                Structure::Attribute(a) if a.key.as_str() == "for_each" => {
                    for_each = Some(&a.value)
                }
                Structure::Attribute(a) if a.key.as_str() == "labels" => labels = Some(&a.value),
                Structure::Attribute(a) if a.key.as_str() == "iterator" => match &a.value {
                    Expression::Variable(v) => iterator = Some(v.as_str().to_string()),
                    other => {
                        return Err(ev.err(other, "iterator takes a bare name: iterator = item"))
                    }
                },
                Structure::Block(c) if c.ident.as_str() == "content" => content = Some(&c.body),
                other => {
                    return Err(ev.err(
                        other,
                        "a dynamic block holds for_each, iterator, labels and one content block",
                    ))
                }
            }
        }
        let (Some(for_each), Some(content)) = (for_each, content) else {
            return Err(TreeError::new(
                pos,
                "a dynamic block needs for_each and a content block",
            ));
        };
        let iterator = iterator.unwrap_or_else(|| kind.clone());
        let coll = ev.eval(for_each, scope)?;
        for (key, value) in ev.iterate(coll, for_each)? {
            let mut inner = scope.child();
            let it = serde_json::json!({ "key": key, "value": value });
            inner.set(&iterator, it);
            let labels = match labels {
                None => Vec::new(),
                Some(e) => {
                    let serde_json::Value::Array(items) = ev.eval(e, &inner)? else {
                        return Err(ev.err(e, "labels must be a list of strings"));
                    };
                    let at = self.pos(e.span());
                    items
                        .into_iter()
                        .map(|l| match l {
                            serde_json::Value::String(name) => Ok(Label { name, pos: at }),
                            _ => Err(ev.err(e, "labels must be a list of strings")),
                        })
                        .collect::<Result<_, _>>()?
                }
            };
            entries.push(Entry {
                key: kind.clone(),
                pos,
                form: Form::Block,
                labels,
                value: Node {
                    pos,
                    value: Value::Map(self.body(content, &inner)?),
                },
            });
        }
        Ok(())
    }

    fn expr(&self, e: &Expression, scope: &Scope) -> Result<Node, TreeError> {
        let pos = self.pos(e.span());
        let value = match e {
            Expression::Null(_) => Value::Null,
            Expression::Bool(b) => Value::Bool(*b.value()),
            Expression::Number(n) => match n.value().as_i64() {
                Some(i) if !n.value().is_f64() => Value::Int(i),
                _ => Value::Float(n.value().as_f64().unwrap_or(f64::NAN)),
            },
            Expression::String(s) => Value::Str(s.value().clone()),
            // Lists and maps are walked here, not evaluated whole, so each element keeps its
            // own position for the decoder's errors.
            Expression::Array(a) => Value::List(
                a.iter()
                    .map(|x| self.expr(x, scope))
                    .collect::<Result<_, _>>()?,
            ),
            Expression::Object(o) => {
                let mut entries = Vec::new();
                for (k, v) in o.iter() {
                    entries.push(Entry {
                        key: self.object_key(k, scope)?,
                        pos: self.pos(k.span()),
                        form: Form::Attribute,
                        labels: Vec::new(),
                        value: self.expr(v.expr(), scope)?,
                    });
                }
                Value::Map(Body { entries })
            }
            Expression::Parenthesis(p) => return self.expr(p.inner(), scope),
            Expression::UnaryOp(u) if *u.operator.value() == UnaryOperator::Neg => {
                match self.expr(&u.expr, scope)?.value {
                    Value::Int(i) => Value::Int(-i),
                    Value::Float(f) => Value::Float(-f),
                    _ => return Err(unsupported(pos, "a negated non-number")),
                }
            }
            Expression::StringTemplate(t) => match self.ev {
                Some(ev) => return Ok(json_node(ev.template_value(t.iter(), scope)?, pos)),
                None => Value::Str(self.template(t.iter())),
            },
            Expression::HeredocTemplate(h) => match self.ev {
                Some(ev) => {
                    return Ok(json_node(ev.template_value(h.template.iter(), scope)?, pos))
                }
                None => Value::Str(self.template(h.template.iter())),
            },
            _ if self.ev.is_some() => {
                let ev = self.ev.expect("checked by the guard");
                return Ok(json_node(ev.eval(e, scope)?, pos));
            }
            Expression::Variable(v) => {
                return Err(unsupported(pos, &format!("the variable {}", v.as_str())))
            }
            Expression::FuncCall(_) => return Err(unsupported(pos, "a function call")),
            Expression::Traversal(_) => return Err(unsupported(pos, "a variable reference")),
            Expression::Conditional(_) => return Err(unsupported(pos, "a conditional")),
            Expression::ForExpr(_) => return Err(unsupported(pos, "a for expression")),
            Expression::UnaryOp(_) | Expression::BinaryOp(_) => {
                return Err(unsupported(pos, "an operator"))
            }
        };
        Ok(Node { pos, value })
    }

    fn object_key(&self, k: &ObjectKey, scope: &Scope) -> Result<String, TreeError> {
        match (k, self.ev) {
            (ObjectKey::Ident(i), _) => Ok(i.as_str().to_string()),
            (ObjectKey::Expression(Expression::String(s)), _) => Ok(s.value().clone()),
            (_, Some(ev)) => ev.object_key(k, scope),
            (ObjectKey::Expression(e), None) => Err(TreeError::new(
                self.pos(e.span()),
                "object keys must be names or plain strings",
            )),
        }
    }

    /// Rebuilds a template's text: literals as decoded, `${...}` and `%{...}` as written.
    fn template<'t>(&self, elements: impl Iterator<Item = &'t Element>) -> String {
        let mut out = String::new();
        for el in elements {
            match el {
                Element::Literal(l) => out.push_str(l.value()),
                other => {
                    if let Some(text) = other.span().and_then(|r| self.src.get(r)) {
                        out.push_str(text);
                    }
                }
            }
        }
        out
    }
}

fn unsupported(pos: Pos, what: &str) -> TreeError {
    TreeError::new(
        pos,
        format!(
            "{what} is not supported here: the agent config is not evaluated, write a literal \
             value"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(src: &str) -> Node {
        let body = parse(src).unwrap();
        body.entries[0].value.clone()
    }

    #[test]
    fn literals_and_positions() {
        let body = parse("a = 1\n  b = \"x\"\nc { d = true }\n").unwrap();
        assert_eq!(body.entries[0].value.value, Value::Int(1));
        assert_eq!(body.entries[1].pos, Pos { line: 2, col: 3 });
        assert_eq!(body.entries[1].value.value, Value::Str("x".into()));
        assert_eq!(body.entries[2].form, Form::Block);
        let Value::Map(inner) = &body.entries[2].value.value else {
            panic!()
        };
        assert_eq!(inner.entries[0].pos, Pos { line: 3, col: 5 });
    }

    #[test]
    fn interpolations_are_kept_verbatim() {
        let n = attr(r#"a = "${attr.kernel.name}-x-${NOMAD_PORT_http}""#);
        assert_eq!(
            n.value,
            Value::Str("${attr.kernel.name}-x-${NOMAD_PORT_http}".into())
        );
        let n = attr(r#"a = "tab\there""#);
        assert_eq!(n.value, Value::Str("tab\there".into()));
    }

    #[test]
    fn heredocs() {
        let n = attr("a = <<EOF\nline ${meta.x}\n  two\nEOF\n");
        assert_eq!(n.value, Value::Str("line ${meta.x}\n  two\n".into()));
        let n = attr("a = <<-EOF\n    one\n      two\n    EOF\n");
        assert_eq!(n.value, Value::Str("one\n  two\n".into()));
    }

    #[test]
    fn negative_numbers_and_floats() {
        assert_eq!(attr("a = -3").value, Value::Int(-3));
        assert_eq!(attr("a = 1.5").value, Value::Float(1.5));
    }

    #[test]
    fn expressions_are_refused_with_position() {
        let err = parse("a = 1\nb = upper(\"x\")\n").unwrap_err();
        assert_eq!(err.pos, Pos { line: 2, col: 5 });
        assert!(err.message.contains("function call"), "{}", err.message);
        let err = parse("b = var.x\n").unwrap_err();
        assert!(err.message.contains("variable"), "{}", err.message);
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse("job \"x\" {\n  a = \n}\n").unwrap_err();
        assert_eq!(err.pos.line, 2, "{err:?}");
        assert!(err.message.starts_with("HCL syntax error"));
    }
}
