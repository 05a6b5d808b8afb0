//! Walks a parsed template against the data and writes the output.

use std::borrow::Cow;

use serde_json::Value;

use super::ast::{Arg, ArgKind, Branch, Cmd, Node, Pipe, Span};
use super::funcs::truth;
use super::{gofmt, line_col, FuncKind, Funcs, Template, TemplateError};

/// Boxed inside the executor for the same reason as in the parser: small stack frames.
type Res<T> = Result<T, Box<TemplateError>>;

/// Bounds `{{template}}` recursion so a self-including template errors instead of overflowing
/// the stack (Go's limit is far higher, but Go's stacks grow).
const MAX_TEMPLATE_DEPTH: usize = 100;

/// Bounds nested bodies (if/with/range/template) across template calls, which the parser's
/// per-template limit cannot see; sized to fit a 2 MiB thread stack in a debug build.
const MAX_NESTING: usize = 150;

/// A value during execution. Data is borrowed until something computes a new value.
#[derive(Clone, Debug)]
enum Val<'a> {
    /// A missing map key: prints as `<no value>`, is false, and is `null` to functions.
    Missing,
    V(Cow<'a, Value>),
}

impl Val<'_> {
    fn owned(v: Value) -> Self {
        Val::V(Cow::Owned(v))
    }

    fn into_value(self) -> Value {
        match self {
            Val::Missing => Value::Null,
            Val::V(v) => v.into_owned(),
        }
    }

    fn is_true(&self) -> bool {
        match self {
            Val::Missing => false,
            Val::V(v) => truth(v),
        }
    }
}

/// How a body ended: `{{break}}`/`{{continue}}` unwind to the nearest `range`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

pub(super) fn render(t: &Template, data: &Value, funcs: &Funcs) -> Result<String, TemplateError> {
    let Some(tree) = t.trees.get(&t.name) else {
        return Err(TemplateError::Parse {
            name: t.name.clone(),
            line: 1,
            col: 1,
            message: format!("template {:?} has no body", t.name),
        });
    };
    let dot = Val::V(Cow::Borrowed(data));
    let mut st = State {
        tmpl: t,
        funcs,
        out: String::new(),
        vars: vec![("$", dot.clone())],
        tree: &tree.name,
        depth: 0,
        nesting: 0,
    };
    st.walk_list(&dot, &tree.list).map_err(|e| *e)?;
    Ok(st.out)
}

struct State<'a> {
    tmpl: &'a Template,
    funcs: &'a Funcs,
    out: String,
    /// Variables in scope, innermost last; scopes end by truncating to a saved length.
    vars: Vec<(&'a str, Val<'a>)>,
    /// The template being executed, for error messages.
    tree: &'a str,
    /// `{{template}}` calls in progress.
    depth: usize,
    /// Bodies being walked, template calls included.
    nesting: usize,
}

impl<'a> State<'a> {
    fn err(&self, span: Span, message: impl Into<String>) -> Box<TemplateError> {
        let src = &self.tmpl.src;
        let (line, col) = line_col(src, span.start);
        Box::new(TemplateError::Exec {
            name: self.tmpl.name.clone(),
            template: self.tree.to_string(),
            line,
            col,
            context: src.get(span.start..span.end).unwrap_or("").to_string(),
            message: message.into(),
        })
    }

    /// Walks a nested body; `span` is blamed if nesting is too deep.
    fn body(&mut self, dot: &Val<'a>, list: &'a [Node], span: Span) -> Res<Flow> {
        if self.nesting >= MAX_NESTING {
            return Err(self.err(
                span,
                format!("exceeded maximum nesting of {MAX_NESTING} blocks and template calls"),
            ));
        }
        self.nesting += 1;
        let flow = self.walk_list(dot, list);
        self.nesting -= 1;
        flow
    }

    fn walk_list(&mut self, dot: &Val<'a>, list: &'a [Node]) -> Res<Flow> {
        for node in list {
            let flow = self.walk(dot, node)?;
            if flow != Flow::Normal {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, dot: &Val<'a>, node: &'a Node) -> Res<Flow> {
        match node {
            Node::Text(s) => self.out.push_str(s),
            Node::Action(pipe) => {
                let v = self.pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    self.print(&v);
                }
            }
            Node::If(b) => return self.if_with(dot, b, false),
            Node::With(b) => return self.if_with(dot, b, true),
            Node::Range(b) => return self.range(dot, b),
            Node::Template { span, name, pipe } => {
                self.template(dot, *span, name, pipe.as_ref())?
            }
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn print(&mut self, v: &Val<'a>) {
        match v {
            Val::Missing => self.out.push_str("<no value>"),
            Val::V(v) => match v.as_ref() {
                Value::String(s) => self.out.push_str(s),
                other => self.out.push_str(&gofmt::value_string(other)),
            },
        }
    }

    fn if_with(&mut self, dot: &Val<'a>, b: &'a Branch, with: bool) -> Res<Flow> {
        let mark = self.vars.len();
        let v = self.pipeline(dot, &b.pipe)?;
        let flow = match (v.is_true(), with) {
            (true, true) => self.body(&v, &b.list, b.pipe.span)?,
            (true, false) => self.body(dot, &b.list, b.pipe.span)?,
            (false, _) => self.body(dot, &b.else_list, b.pipe.span)?,
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn range(&mut self, dot: &Val<'a>, b: &'a Branch) -> Res<Flow> {
        let mark = self.vars.len();
        let v = self.pipeline(dot, &b.pipe)?;
        let body_mark = self.vars.len();
        let items = match &v {
            Val::Missing => Items::List(Vec::new()),
            Val::V(Cow::Borrowed(d)) => items(d),
            Val::V(Cow::Owned(d)) => owned_items(items(d)),
        };
        let mut ran = false;
        match items {
            Items::List(list) => {
                for (key, elem) in list {
                    ran = true;
                    self.set_range_vars(&b.pipe, mark, key, &elem)?;
                    let flow = self.body(&elem, &b.list, b.pipe.span)?;
                    self.vars.truncate(body_mark);
                    if flow == Flow::Break {
                        break;
                    }
                }
            }
            Items::Count(n) => {
                if b.pipe.decl.len() > 1 {
                    return Err(self.err(
                        b.pipe.span,
                        "range over an integer takes one variable, not two",
                    ));
                }
                for i in 0..n {
                    ran = true;
                    let elem = Val::owned(Value::from(i));
                    self.set_range_vars(&b.pipe, mark, elem.clone(), &elem)?;
                    let flow = self.body(&elem, &b.list, b.pipe.span)?;
                    self.vars.truncate(body_mark);
                    if flow == Flow::Break {
                        break;
                    }
                }
            }
            Items::Bad(what) => {
                return Err(self.err(b.pipe.span, format!("range can't iterate over {what}")));
            }
        }
        let flow = if ran {
            Flow::Normal
        } else {
            self.body(dot, &b.else_list, b.pipe.span)?
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    /// One variable gets the element; two get key (or index) and element.
    fn set_range_vars(
        &mut self,
        pipe: &'a Pipe,
        mark: usize,
        key: Val<'a>,
        elem: &Val<'a>,
    ) -> Res<()> {
        let values = match pipe.decl.len() {
            0 => return Ok(()),
            1 => vec![elem.clone()],
            _ => vec![key, elem.clone()],
        };
        for (i, (name, v)) in pipe.decl.iter().zip(values).enumerate() {
            if pipe.assign {
                self.set_var(name, v, pipe.span)?;
            } else if let Some(slot) = self.vars.get_mut(mark + i) {
                slot.1 = v;
            }
        }
        Ok(())
    }

    fn template(
        &mut self,
        dot: &Val<'a>,
        span: Span,
        name: &str,
        pipe: Option<&'a Pipe>,
    ) -> Res<()> {
        let Some(tree) = self.tmpl.trees.get(name) else {
            return Err(self.err(span, format!("template {name:?} not defined")));
        };
        if self.depth >= MAX_TEMPLATE_DEPTH {
            return Err(self.err(
                span,
                format!("exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})"),
            ));
        }
        let v = match pipe {
            Some(p) => self.pipeline(dot, p)?,
            None => Val::owned(Value::Null),
        };
        // A called template sees only `$`, bound to its argument.
        let vars = std::mem::replace(&mut self.vars, vec![("$", v.clone())]);
        let caller = std::mem::replace(&mut self.tree, &tree.name);
        self.depth += 1;
        let result = self.body(&v, &tree.list, span);
        self.depth -= 1;
        self.tree = caller;
        self.vars = vars;
        result.map(|_| ())
    }

    fn var(&self, name: &str, span: Span) -> Res<Val<'a>> {
        match self.vars.iter().rev().find(|(n, _)| *n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => Err(self.err(span, format!("undefined variable: {name}"))),
        }
    }

    fn set_var(&mut self, name: &str, v: Val<'a>, span: Span) -> Res<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| *n == name) {
            Some(slot) => {
                slot.1 = v;
                Ok(())
            }
            None => Err(self.err(span, format!("undefined variable: {name}"))),
        }
    }

    fn pipeline(&mut self, dot: &Val<'a>, pipe: &'a Pipe) -> Res<Val<'a>> {
        let mut v = None;
        for cmd in &pipe.cmds {
            v = Some(self.command(dot, cmd, v.take())?);
        }
        let v = v.unwrap_or(Val::Missing);
        for name in &pipe.decl {
            if pipe.assign {
                self.set_var(name, v.clone(), pipe.span)?;
            } else {
                self.vars.push((name, v.clone()));
            }
        }
        Ok(v)
    }

    /// One stage; `fin` is the previous stage's value, passed as the last argument.
    fn command(&mut self, dot: &Val<'a>, cmd: &'a Cmd, fin: Option<Val<'a>>) -> Res<Val<'a>> {
        let Some((first, rest)) = cmd.args.split_first() else {
            return Err(self.err(cmd.span, "empty command"));
        };
        if let ArgKind::Ident(name) = &first.kind {
            return self.call(dot, first.span, name, rest, fin);
        }
        if matches!(first.kind, ArgKind::Nil) {
            return Err(self.err(first.span, "nil is not a command"));
        }
        if !rest.is_empty() || fin.is_some() {
            let text = self
                .tmpl
                .src
                .get(first.span.start..first.span.end)
                .unwrap_or("");
            return Err(self.err(
                first.span,
                format!("can't give argument to non-function {text}"),
            ));
        }
        self.arg(dot, first)
    }

    fn arg(&mut self, dot: &Val<'a>, a: &'a Arg) -> Res<Val<'a>> {
        match &a.kind {
            ArgKind::Dot => Ok(dot.clone()),
            ArgKind::Nil => Ok(Val::owned(Value::Null)),
            ArgKind::Lit(v) => Ok(Val::V(Cow::Borrowed(v))),
            ArgKind::Field(names) => self.fields(dot.clone(), names, a.span),
            ArgKind::Variable(name, names) => {
                let base = self.var(name, a.span)?;
                self.fields(base, names, a.span)
            }
            ArgKind::Chain(node, names) => {
                let base = self.arg(dot, node)?;
                self.fields(base, names, a.span)
            }
            ArgKind::Pipe(p) => self.pipeline(dot, p),
            ArgKind::Ident(name) => self.call(dot, a.span, name, &[], None),
        }
    }

    fn fields(&self, mut v: Val<'a>, names: &[String], span: Span) -> Res<Val<'a>> {
        for name in names {
            v = field(v, name).map_err(|m| self.err(span, m))?;
        }
        Ok(v)
    }

    fn call(
        &mut self,
        dot: &Val<'a>,
        span: Span,
        name: &str,
        args: &'a [Arg],
        fin: Option<Val<'a>>,
    ) -> Res<Val<'a>> {
        let Some(kind) = self.funcs.map.get(name) else {
            return Err(self.err(span, format!("{name:?} is not a defined function")));
        };
        let f = match kind {
            FuncKind::Plain(f) => f.clone(),
            FuncKind::And | FuncKind::Or => {
                let and = matches!(kind, FuncKind::And);
                if args.is_empty() && fin.is_none() {
                    return Err(self.err(
                        span,
                        format!("wrong number of args for {name}: want at least 1 got 0"),
                    ));
                }
                // Evaluate left to right and stop at the first value that decides the result.
                let mut last = Val::Missing;
                for a in args {
                    let v = self.arg(dot, a)?;
                    if v.is_true() != and {
                        return Ok(v);
                    }
                    last = v;
                }
                return Ok(fin.unwrap_or(last));
            }
        };
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.arg(dot, a)?.into_value());
        }
        if let Some(v) = fin {
            vals.push(v.into_value());
        }
        match f(&vals) {
            Ok(v) => Ok(Val::owned(v)),
            Err(m) => Err(self.err(span, format!("error calling {name}: {m}"))),
        }
    }
}

/// `.name` of a value: objects look the key up, `null` and missing values give no value.
fn field<'a>(v: Val<'a>, name: &str) -> Result<Val<'a>, String> {
    let not_object = |d: &Value| {
        format!(
            "can't evaluate field {name} in type {}",
            gofmt::type_name(d)
        )
    };
    match v {
        Val::Missing | Val::V(Cow::Borrowed(Value::Null)) | Val::V(Cow::Owned(Value::Null)) => {
            Ok(Val::Missing)
        }
        Val::V(Cow::Borrowed(Value::Object(m))) => Ok(m
            .get(name)
            .map_or(Val::Missing, |x| Val::V(Cow::Borrowed(x)))),
        Val::V(Cow::Owned(Value::Object(mut m))) => {
            Ok(m.remove(name).map_or(Val::Missing, Val::owned))
        }
        Val::V(d) => Err(not_object(d.as_ref())),
    }
}

/// What `range` iterates over.
enum Items<'a> {
    List(Vec<(Val<'a>, Val<'a>)>),
    Count(i64),
    Bad(String),
}

/// Arrays give (index, element); objects give (key, value) in key order, as Go sorts map keys.
fn items(d: &Value) -> Items<'_> {
    match d {
        Value::Null => Items::List(Vec::new()),
        Value::Array(a) => Items::List(
            a.iter()
                .enumerate()
                .map(|(i, e)| (Val::owned(Value::from(i)), Val::V(Cow::Borrowed(e))))
                .collect(),
        ),
        Value::Object(m) => {
            let mut entries: Vec<_> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Items::List(
                entries
                    .into_iter()
                    .map(|(k, e)| {
                        (
                            Val::owned(Value::String(k.clone())),
                            Val::V(Cow::Borrowed(e)),
                        )
                    })
                    .collect(),
            )
        }
        Value::Number(n) if n.as_i64().is_some() => Items::Count(n.as_i64().unwrap_or(0)),
        other => Items::Bad(gofmt::value_string(other)),
    }
}

/// Items of a computed value cannot borrow from it past this call, so they are cloned.
fn owned_items(items: Items<'_>) -> Items<'static> {
    let own = |v: Val<'_>| match v {
        Val::Missing => Val::Missing,
        Val::V(c) => Val::V(Cow::Owned(c.into_owned())),
    };
    match items {
        Items::List(list) => Items::List(list.into_iter().map(|(k, e)| (own(k), own(e))).collect()),
        Items::Count(n) => Items::Count(n),
        Items::Bad(s) => Items::Bad(s),
    }
}
