//! The parsed form of a template: what the parser builds and exec walks.

use serde_json::Value;

/// Byte range in the template source, kept so errors can point at and quote the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Span {
    pub start: usize,
    pub end: usize,
}

/// One named template: the main body or a `define`/`block`.
#[derive(Clone, Debug)]
pub(super) struct Tree {
    pub name: String,
    pub list: Vec<Node>,
}

impl Tree {
    /// Go lets a definition that is only whitespace be replaced by another of the same name.
    pub fn is_empty(list: &[Node]) -> bool {
        list.iter()
            .all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()))
    }
}

#[derive(Clone, Debug)]
pub(super) enum Node {
    Text(String),
    /// `{{pipeline}}`: prints the value unless the pipeline declares variables.
    Action(Pipe),
    If(Box<Branch>),
    With(Box<Branch>),
    Range(Box<Branch>),
    /// `{{template "name" pipeline}}`; `block` becomes a definition plus one of these.
    Template {
        span: Span,
        name: String,
        pipe: Option<Pipe>,
    },
    Break,
    Continue,
}

/// The shared shape of `if`, `with` and `range`; `{{else if}}` nests in `else_list`.
#[derive(Clone, Debug)]
pub(super) struct Branch {
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Vec<Node>,
}

#[derive(Clone, Debug)]
pub(super) struct Pipe {
    pub span: Span,
    /// Variables declared (`:=`) or assigned (`=`) with the pipeline's value, names with `$`.
    pub decl: Vec<String>,
    pub assign: bool,
    pub cmds: Vec<Cmd>,
}

/// One `|`-separated stage: a function call with arguments, or a single operand.
#[derive(Clone, Debug)]
pub(super) struct Cmd {
    pub span: Span,
    pub args: Vec<Arg>,
}

#[derive(Clone, Debug)]
pub(super) struct Arg {
    pub span: Span,
    pub kind: ArgKind,
}

#[derive(Clone, Debug)]
pub(super) enum ArgKind {
    Dot,
    Nil,
    /// A string, number, boolean or character constant.
    Lit(Value),
    /// `.A.B`, relative to dot.
    Field(Vec<String>),
    /// `$x.A.B`; the name keeps its `$`.
    Variable(String, Vec<String>),
    /// A function name.
    Ident(String),
    /// `(pipeline)`.
    Pipe(Box<Pipe>),
    /// Fields of a parenthesized value or function result: `(index . 0).Name`.
    Chain(Box<Arg>, Vec<String>),
}
