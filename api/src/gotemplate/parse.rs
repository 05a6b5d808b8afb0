//! Recursive-descent parser from tokens to the AST, with Go's parse-time checks: undefined
//! functions and variables, `{{break}}` outside `range`, stray `{{else}}`/`{{end}}`.

use std::collections::HashMap;

use super::ast::{Branch, Node, Span, Tree};
use super::lex::{lex_with, Delims, Tok, Token};
use super::{line_col, Funcs, TemplateError};

/// Errors are boxed inside the parser: every `Result` temporary in these recursive functions
/// then stays small, which keeps debug-build stack frames (and so the nesting limit) workable.
pub(super) type Res<T> = Result<T, Box<TemplateError>>;

/// Nesting (blocks, parentheses) beyond this is refused so hostile input cannot exhaust the
/// stack of the parser or of the executor that walks the same shape.
const MAX_DEPTH: usize = 100;

pub(super) fn parse(
    name: &str,
    src: &str,
    funcs: &Funcs,
    delims: &Delims,
) -> Result<HashMap<String, Tree>, TemplateError> {
    let mut p = Parser {
        name,
        src,
        funcs,
        toks: lex_with(src, delims),
        eof: Token {
            tok: Tok::Eof,
            start: src.len(),
            end: src.len(),
            spaced: false,
        },
        i: 0,
        last_end: 0,
        vars: vec!["$".into()],
        range_depth: 0,
        depth: 0,
        trees: HashMap::new(),
    };
    let list = p.top().map_err(|e| *e)?;
    p.add_tree(name.to_string(), list, 0).map_err(|e| *e)?;
    Ok(p.trees)
}

/// What one `text_or_action` step produced.
enum Item {
    Node(Node),
    End(usize),
    /// `{{else}}`, or `{{else if}}`/`{{else with}}` with the keyword consumed.
    Else(usize, Option<&'static str>),
    Eof,
}

/// Which token closes the pipeline being parsed.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum End {
    Delim,
    Paren,
}

pub(super) struct Parser<'a> {
    pub(super) name: &'a str,
    pub(super) src: &'a str,
    pub(super) funcs: &'a Funcs,
    pub(super) toks: Vec<Token>,
    /// Returned past the end, so lookahead never indexes out of bounds.
    pub(super) eof: Token,
    pub(super) i: usize,
    /// End of the last consumed token, for node spans.
    pub(super) last_end: usize,
    /// Variables in scope, innermost last; Go checks them at parse time.
    pub(super) vars: Vec<String>,
    pub(super) range_depth: usize,
    pub(super) depth: usize,
    pub(super) trees: HashMap<String, Tree>,
}

impl Parser<'_> {
    pub(super) fn err(&self, pos: usize, message: impl Into<String>) -> Box<TemplateError> {
        let (line, col) = line_col(self.src, pos);
        Box::new(TemplateError::Parse {
            name: self.name.to_string(),
            line,
            col,
            message: message.into(),
        })
    }

    pub(super) fn tok_at(&self, i: usize) -> &Token {
        self.toks.get(i).unwrap_or(&self.eof)
    }

    pub(super) fn peek(&self) -> Res<&Token> {
        let t = self.tok_at(self.i);
        match &t.tok {
            Tok::Error(m) => Err(self.err(t.start, m.clone())),
            _ => Ok(t),
        }
    }

    pub(super) fn next(&mut self) -> Res<Token> {
        let t = self.peek()?.clone();
        self.i += 1;
        self.last_end = t.end;
        Ok(t)
    }

    fn describe(&self, t: &Token) -> String {
        match &t.tok {
            Tok::Eof => "EOF".into(),
            Tok::Keyword(k) => format!("<{k}>"),
            _ => {
                let text = self.src.get(t.start..t.end).unwrap_or("").trim();
                if text.chars().count() > 10 {
                    let cut: String = text.chars().take(10).collect();
                    format!("{cut:?}...")
                } else {
                    format!("{text:?}")
                }
            }
        }
    }

    pub(super) fn unexpected(&self, t: &Token, context: &str) -> Box<TemplateError> {
        self.err(
            t.start,
            format!("unexpected {} in {context}", self.describe(t)),
        )
    }

    fn expect_right(&mut self, context: &str) -> Res<()> {
        let t = self.next()?;
        match t.tok {
            Tok::Right => Ok(()),
            _ => Err(self.unexpected(&t, context)),
        }
    }

    pub(super) fn enter(&mut self, pos: usize) -> Res<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(pos, format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn top(&mut self) -> Res<Vec<Node>> {
        let mut list = Vec::new();
        loop {
            if matches!(self.peek()?.tok, Tok::Left)
                && matches!(self.tok_at(self.i + 1).tok, Tok::Keyword("define"))
            {
                self.define()?;
                continue;
            }
            match self.text_or_action()? {
                Item::Node(n) => list.push(n),
                Item::Eof => return Ok(list),
                Item::End(pos) => {
                    return Err(self.err(
                        pos,
                        "unexpected {{end}}: no {{if}}, {{with}}, {{range}}, {{define}} or {{block}} is open",
                    ))
                }
                Item::Else(pos, _) => {
                    return Err(self.err(pos, "unexpected {{else}} outside {{if}}, {{with}} or {{range}}"))
                }
            }
        }
    }

    fn text_or_action(&mut self) -> Res<Item> {
        let t = self.next()?;
        match t.tok {
            Tok::Text(s) => Ok(Item::Node(Node::Text(s))),
            Tok::Left => self.action(t.start),
            Tok::Eof => Ok(Item::Eof),
            _ => Err(self.unexpected(&t, "text")),
        }
    }

    /// Parses a body up to its `{{end}}` or `{{else}}`; `context` and `open` name the block in
    /// the error when the source ends first.
    fn item_list(&mut self, context: &str, open: usize) -> Res<(Vec<Node>, Item)> {
        self.enter(open)?;
        let mut list = Vec::new();
        loop {
            match self.text_or_action()? {
                Item::Node(n) => list.push(n),
                Item::Eof => {
                    let (line, col) = line_col(self.src, open);
                    return Err(self.err(
                        self.src.len(),
                        format!("unexpected EOF: {{{{{context}}}}} at {line}:{col} has no matching {{{{end}}}}"),
                    ));
                }
                term => {
                    self.depth -= 1;
                    return Ok((list, term));
                }
            }
        }
    }

    /// Dispatches on the action's keyword. Each arm is its own function so that this frame,
    /// which sits on the recursion path of nested blocks, stays small in debug builds.
    fn action(&mut self, open: usize) -> Res<Item> {
        let t = self.peek()?.clone();
        let Tok::Keyword(k) = t.tok else {
            return Ok(Item::Node(Node::Action(
                self.pipeline("command", End::Delim)?,
            )));
        };
        self.next()?;
        match k {
            "if" | "with" | "range" => self.control(k, open).map(Item::Node),
            "block" => self.block(open),
            "template" => self.template(open),
            "break" | "continue" => self.loop_control(k, t.start),
            "else" => self.else_control(t.start),
            "end" => self.expect_right("end").map(|()| Item::End(t.start)),
            _ => Err(self.err(
                t.start,
                format!(
                    "{{{{{k}}}}} is only allowed at the top level, not inside an action or block"
                ),
            )),
        }
    }

    fn loop_control(&mut self, k: &str, pos: usize) -> Res<Item> {
        self.expect_right(k)?;
        if self.range_depth == 0 {
            return Err(self.err(pos, format!("{{{{{k}}}}} outside {{{{range}}}}")));
        }
        Ok(Item::Node(if k == "break" {
            Node::Break
        } else {
            Node::Continue
        }))
    }

    fn else_control(&mut self, pos: usize) -> Res<Item> {
        if let Tok::Keyword(kw @ ("if" | "with")) = self.peek()?.tok {
            self.next()?;
            return Ok(Item::Else(pos, Some(kw)));
        }
        self.expect_right("else")?;
        Ok(Item::Else(pos, None))
    }

    /// `if`, `with` and `range` after their keyword, through the matching `{{end}}`.
    fn control(&mut self, context: &'static str, open: usize) -> Res<Node> {
        let mark = self.vars.len();
        let pipe = self.pipeline(context, End::Delim)?;
        let body_mark = self.vars.len();
        let in_range = usize::from(context == "range");
        self.range_depth += in_range;
        let (list, term) = self.item_list(context, open)?;
        self.range_depth -= in_range;
        // Variables declared in the body are gone in {{else}}; the pipeline's stay.
        self.vars.truncate(body_mark);
        let else_list = self.else_list(context, open, term)?;
        self.vars.truncate(mark);
        let branch = Box::new(Branch {
            pipe,
            list,
            else_list,
        });
        Ok(match context {
            "if" => Node::If(branch),
            "with" => Node::With(branch),
            _ => Node::Range(branch),
        })
    }

    /// What follows the body of `context`: nothing, an `{{else}}` body, or an `{{else if}}`.
    fn else_list(&mut self, context: &str, open: usize, term: Item) -> Res<Vec<Node>> {
        match term {
            Item::Else(pos, Some(kw)) if kw == context => {
                // `{{else if x}}` is `{{else}}{{if x}}...{{end}}` sharing the outer {{end}}.
                Ok(vec![self.control(kw, pos)?])
            }
            Item::Else(pos, Some(kw)) => Err(self.err(
                pos,
                format!("{{{{else {kw}}}}} is not allowed in {{{{{context}}}}}; use {{{{else}}}}{{{{{kw} ...}}}}...{{{{end}}}}"),
            )),
            Item::Else(_, None) => {
                let (list, term) = self.item_list(context, open)?;
                if let Item::Else(pos, _) = term {
                    return Err(self.err(pos, format!("expected {{{{end}}}}; found a second {{{{else}}}} in {{{{{context}}}}}")));
                }
                Ok(list)
            }
            _ => Ok(Vec::new()),
        }
    }

    fn string_name(&mut self, context: &str) -> Res<(String, usize)> {
        let t = self.next()?;
        match t.tok {
            Tok::Str(s) => Ok((s, t.start)),
            _ => Err(self.unexpected(&t, context)),
        }
    }

    fn template(&mut self, open: usize) -> Res<Item> {
        let (name, _) = self.string_name("template clause")?;
        let pipe = if matches!(self.peek()?.tok, Tok::Right) {
            self.next()?;
            None
        } else {
            Some(self.pipeline("template clause", End::Delim)?)
        };
        let span = Span {
            start: open,
            end: self.last_end,
        };
        Ok(Item::Node(Node::Template { span, name, pipe }))
    }

    /// A template body parsed on its own: Go gives it fresh variables and no enclosing range.
    fn definition_body(&mut self, context: &str, open: usize) -> Res<Vec<Node>> {
        let vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let range_depth = std::mem::take(&mut self.range_depth);
        let (list, term) = self.item_list(context, open)?;
        self.vars = vars;
        self.range_depth = range_depth;
        if let Item::Else(pos, _) = term {
            return Err(self.err(pos, format!("unexpected {{{{else}}}} in {{{{{context}}}}}")));
        }
        Ok(list)
    }

    fn block(&mut self, open: usize) -> Res<Item> {
        let (name, name_pos) = self.string_name("block clause")?;
        let pipe = self.pipeline("block clause", End::Delim)?;
        let span = Span {
            start: open,
            end: self.last_end,
        };
        let list = self.definition_body("block", open)?;
        self.add_tree(name.clone(), list, name_pos)?;
        Ok(Item::Node(Node::Template {
            span,
            name,
            pipe: Some(pipe),
        }))
    }

    fn define(&mut self) -> Res<()> {
        let open = self.next()?.start;
        self.next()?;
        let (name, name_pos) = self.string_name("define clause")?;
        self.expect_right("define clause")?;
        let list = self.definition_body("define", open)?;
        self.add_tree(name, list, name_pos)
    }

    fn add_tree(&mut self, name: String, list: Vec<Node>, pos: usize) -> Res<()> {
        if let Some(old) = self.trees.get(&name) {
            if Tree::is_empty(&list) {
                return Ok(());
            }
            if !Tree::is_empty(&old.list) {
                return Err(self.err(pos, format!("multiple definition of template {name:?}")));
            }
        }
        self.trees.insert(name.clone(), Tree { name, list });
        Ok(())
    }
}
