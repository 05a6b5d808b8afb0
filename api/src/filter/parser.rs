//! Recursive-descent parser from tokens to [`Expr`].
//!
//! ```text
//! expr     := and_expr ( "or" and_expr )*
//! and_expr := unary ( "and" unary )*
//! unary    := "not" unary | "(" expr ")" | match
//! match    := selector ( "==" | "!=" ) value
//!           | selector "is" [ "not" ] "empty"
//!           | selector [ "not" ] ( "contains" | "matches" ) value
//!           | value [ "not" ] "in" selector
//! selector := NAME ( "." NAME | "[" ( STRING | NUMBER ) "]" )*
//! value    := STRING | NUMBER | NAME ( "." NAME )*      -- a bare word stands for its own text
//! ```
//!
//! `and`/`or` chains are kept flat (n-ary) so a long chain does not make a deep tree; only
//! parentheses and `not` nest, and those are capped at [`MAX_DEPTH`].

use regex::Regex;

use super::lexer::{Token, TokenKind};
use super::{FilterError, MAX_DEPTH};

#[derive(Debug, Clone)]
pub(crate) enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Match(Match),
}

#[derive(Debug, Clone)]
pub(crate) struct Match {
    /// Path from the item's root: object keys, or array indices written as numbers.
    pub selector: Vec<String>,
    pub op: MatchOp,
    /// `!=`, `is not empty`, `not in`, `not contains`, `not matches`: the plain result, inverted.
    pub negate: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum MatchOp {
    /// `==` (and `!=` when negated), against the value's text.
    Equal(String),
    IsEmpty,
    /// `contains`, and `in` with its operands swapped.
    Contains(String),
    Matches(Regex),
}

const KEYWORDS: [&str; 8] = [
    "and", "or", "not", "is", "empty", "in", "contains", "matches",
];

pub(crate) fn is_keyword(word: &str) -> bool {
    KEYWORDS.contains(&word)
}

pub(crate) fn parse(tokens: Vec<Token>) -> Result<Expr, FilterError> {
    let mut p = Parser {
        tokens,
        pos: 0,
        depth: 0,
    };
    if p.peek().kind == TokenKind::End {
        return Err(FilterError::new("empty filter expression", 1));
    }
    let expr = p.parse_or()?;
    let t = p.peek();
    match t.kind {
        TokenKind::End => Ok(expr),
        TokenKind::RParen => Err(FilterError::new("unmatched \")\"", t.col)),
        _ => Err(FilterError::new(
            format!(
                "expected \"and\", \"or\" or end of input, found {}",
                t.describe()
            ),
            t.col,
        )),
    }
}

/// A parsed selector, with what is needed to reread it as a bare-word value.
struct Selector {
    path: Vec<String>,
    /// Written as `NAME(.NAME)*`, so it can also be read as a bare word.
    plain: bool,
    col: usize,
}

struct Parser {
    /// Never empty: the lexer always ends it with [`TokenKind::End`].
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        let last = self.tokens.len().saturating_sub(1);
        &self.tokens[self.pos.min(last)]
    }

    fn advance(&mut self) -> Token {
        let t = self.peek().clone();
        if t.kind != TokenKind::End {
            self.pos += 1;
        }
        t
    }

    fn at_keyword(&self, kw: &str) -> bool {
        matches!(&self.peek().kind, TokenKind::Ident(w) if w == kw)
    }

    fn enter(&mut self, col: usize) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(FilterError::new(
                format!("expression nests deeper than {MAX_DEPTH} levels"),
                col,
            ));
        }
        Ok(())
    }

    fn parse_or(&mut self) -> Result<Expr, FilterError> {
        let mut items = vec![self.parse_and()?];
        while self.at_keyword("or") {
            self.advance();
            items.push(self.parse_and()?);
        }
        Ok(if items.len() == 1 {
            items.swap_remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn parse_and(&mut self) -> Result<Expr, FilterError> {
        let mut items = vec![self.parse_unary()?];
        while self.at_keyword("and") {
            self.advance();
            items.push(self.parse_unary()?);
        }
        Ok(if items.len() == 1 {
            items.swap_remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn parse_unary(&mut self) -> Result<Expr, FilterError> {
        let t = self.peek().clone();
        match &t.kind {
            TokenKind::Ident(w) if w == "not" => {
                self.advance();
                self.enter(t.col)?;
                let inner = self.parse_unary()?;
                self.depth -= 1;
                Ok(Expr::Not(Box::new(inner)))
            }
            TokenKind::LParen => {
                self.advance();
                self.enter(t.col)?;
                let inner = self.parse_or()?;
                let close = self.peek();
                if close.kind != TokenKind::RParen {
                    return Err(FilterError::new(
                        format!(
                            "expected \"and\", \"or\" or \")\" to close the \"(\" at column {}, found {}",
                            t.col,
                            close.describe()
                        ),
                        close.col,
                    ));
                }
                self.advance();
                self.depth -= 1;
                Ok(inner)
            }
            TokenKind::Str(s) | TokenKind::Number(s) => {
                let value = s.clone();
                self.advance();
                self.parse_in(value, &t.describe())
            }
            TokenKind::Ident(w) if !is_keyword(w) => {
                let sel = self.parse_selector("")?;
                self.parse_operator(sel)
            }
            TokenKind::End => Err(FilterError::new(
                "expected an expression, found end of input",
                t.col,
            )),
            _ => Err(FilterError::new(
                format!(
                    "expected a selector, a value or \"(\", found {}",
                    t.describe()
                ),
                t.col,
            )),
        }
    }

    /// `selector` at the current token; `after` names what came before, for the error.
    fn parse_selector(&mut self, after: &str) -> Result<Selector, FilterError> {
        let first = self.advance();
        let mut path = match first.kind {
            TokenKind::Ident(ref w) if !is_keyword(w) => vec![w.clone()],
            _ => {
                return Err(FilterError::new(
                    format!("expected a selector{after}, found {}", first.describe()),
                    first.col,
                ))
            }
        };
        let mut plain = true;
        loop {
            match self.peek().kind {
                TokenKind::Dot => {
                    self.advance();
                    let t = self.advance();
                    match t.kind {
                        TokenKind::Ident(w) => path.push(w),
                        _ => {
                            return Err(FilterError::new(
                                format!(
                                    "expected a field name after \".\", found {}",
                                    t.describe()
                                ),
                                t.col,
                            ))
                        }
                    }
                }
                TokenKind::LBracket => {
                    self.advance();
                    plain = false;
                    let t = self.advance();
                    match t.kind {
                        TokenKind::Str(k) | TokenKind::Number(k) => path.push(k),
                        _ => {
                            return Err(FilterError::new(
                                format!(
                                    "expected a quoted key after \"[\", found {}",
                                    t.describe()
                                ),
                                t.col,
                            ))
                        }
                    }
                    let close = self.advance();
                    if close.kind != TokenKind::RBracket {
                        return Err(FilterError::new(
                            format!("expected \"]\" after the key, found {}", close.describe()),
                            close.col,
                        ));
                    }
                }
                _ => break,
            }
        }
        Ok(Selector {
            path,
            plain,
            col: first.col,
        })
    }

    /// The operator and right-hand side after a selector (or a bare word before `in`).
    fn parse_operator(&mut self, sel: Selector) -> Result<Expr, FilterError> {
        let mut negate = false;
        let mut t = self.peek().clone();
        if matches!(&t.kind, TokenKind::Ident(w) if w == "not") {
            self.advance();
            negate = true;
            t = self.peek().clone();
            if !matches!(&t.kind, TokenKind::Ident(w) if w == "in" || w == "contains" || w == "matches")
            {
                return Err(FilterError::new(
                    format!(
                        "expected \"in\", \"contains\" or \"matches\" after \"not\", found {}",
                        t.describe()
                    ),
                    t.col,
                ));
            }
        }
        let word = match &t.kind {
            TokenKind::Ident(w) => w.as_str(),
            TokenKind::EqEq => "==",
            TokenKind::NotEq => "!=",
            _ => "",
        };
        let op = match word {
            "==" | "!=" => {
                self.advance();
                negate = word == "!=";
                MatchOp::Equal(self.parse_value(&t.describe())?.0)
            }
            "is" => {
                self.advance();
                negate = self.at_keyword("not");
                if negate {
                    self.advance();
                }
                let e = self.advance();
                if !matches!(&e.kind, TokenKind::Ident(w) if w == "empty") {
                    let (want, is) = if negate {
                        ("\"empty\"", "is not")
                    } else {
                        ("\"empty\" or \"not empty\"", "is")
                    };
                    return Err(FilterError::new(
                        format!("expected {want} after \"{is}\", found {}", e.describe()),
                        e.col,
                    ));
                }
                MatchOp::IsEmpty
            }
            "contains" => {
                self.advance();
                MatchOp::Contains(self.parse_value("\"contains\"")?.0)
            }
            "matches" => {
                self.advance();
                let (pattern, col) = self.parse_value("\"matches\"")?;
                MatchOp::Matches(compile_regex(&pattern, col)?)
            }
            "in" => {
                // `Word in Selector`: what looked like a selector is the value, as a bare word.
                if !sel.plain {
                    return Err(FilterError::new(
                        "expected a value before \"in\" (quote it: a [\"key\"] selector is not a bare word)",
                        sel.col,
                    ));
                }
                self.advance();
                return self.finish_in(sel.path.join("."), negate);
            }
            _ => {
                return Err(FilterError::new(
                    format!(
                        "expected an operator (\"==\", \"!=\", \"is empty\", \"contains\", \"matches\" or \"in\") after {:?}, found {}",
                        sel.path.join("."),
                        t.describe()
                    ),
                    t.col,
                ))
            }
        };
        Ok(Expr::Match(Match {
            selector: sel.path,
            op,
            negate,
        }))
    }

    /// After a quoted or numeric value: `[ "not" ] "in" selector`.
    fn parse_in(&mut self, value: String, what: &str) -> Result<Expr, FilterError> {
        let negate = self.at_keyword("not");
        if negate {
            self.advance();
        }
        let t = self.advance();
        if !matches!(&t.kind, TokenKind::Ident(w) if w == "in") {
            let msg = if negate {
                format!("expected \"in\" after \"not\", found {}", t.describe())
            } else {
                format!(
                    "expected \"in\" or \"not in\" after {what} (a value comes first only with \"in\"), found {}",
                    t.describe()
                )
            };
            return Err(FilterError::new(msg, t.col));
        }
        self.finish_in(value, negate)
    }

    fn finish_in(&mut self, value: String, negate: bool) -> Result<Expr, FilterError> {
        let target = self.parse_selector(" after \"in\"")?;
        Ok(Expr::Match(Match {
            selector: target.path,
            op: MatchOp::Contains(value),
            negate,
        }))
    }

    /// A value after `after` (named in the error); returns its text and column.
    fn parse_value(&mut self, after: &str) -> Result<(String, usize), FilterError> {
        let t = self.advance();
        match t.kind {
            TokenKind::Str(s) | TokenKind::Number(s) => Ok((s, t.col)),
            TokenKind::Ident(ref w) if !is_keyword(w) => {
                let mut text = w.clone();
                while self.peek().kind == TokenKind::Dot {
                    self.advance();
                    let part = self.advance();
                    match part.kind {
                        TokenKind::Ident(p) => {
                            text.push('.');
                            text.push_str(&p);
                        }
                        _ => {
                            return Err(FilterError::new(
                                format!(
                                    "expected a name after \".\" in bare value {text:?} (quote the value), found {}",
                                    part.describe()
                                ),
                                part.col,
                            ))
                        }
                    }
                }
                Ok((text, t.col))
            }
            _ => Err(FilterError::new(
                format!("expected a value after {after}, found {}", t.describe()),
                t.col,
            )),
        }
    }
}

/// Compiles a `matches` pattern (unanchored, like Go's `regexp.MatchString`).
fn compile_regex(pattern: &str, col: usize) -> Result<Regex, FilterError> {
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| {
            // The syntax error is a multi-line picture; its last line says what is wrong.
            let text = e.to_string();
            let reason = text
                .lines()
                .rev()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("invalid")
                .trim_start_matches("error: ")
                .to_string();
            FilterError::new(
                format!("invalid regular expression {pattern:?} after \"matches\": {reason}"),
                col,
            )
        })
}
