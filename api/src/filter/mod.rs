//! Nomad's API filter expressions (the `?filter=` query parameter), evaluated over the JSON
//! that a list endpoint returns for each item.
//!
//! The language is the one HashiCorp's go-bexpr implements and Nomad documents under
//! "Filtering" in its HTTP API docs; this is our own implementation of that documented
//! behaviour.
//!
//! ```
//! use api::filter::Filter;
//! use serde_json::json;
//!
//! let f = Filter::parse(r#"Status == "running" and Meta.owner is not empty"#).unwrap();
//! assert!(f.matches(&json!({"Status": "running", "Meta": {"owner": "ops"}})));
//! assert!(!f.matches(&json!({"Status": "dead", "Meta": {"owner": "ops"}})));
//! ```
//!
//! # Syntax
//!
//! Boolean logic: `or`, `and`, `not` and parentheses, binding `not` tighter than `and` tighter
//! than `or`, so `a and not b or c` is `(a and (not b)) or c`. Keywords are lowercase.
//!
//! Matching operators:
//!
//! ```text
//! <Selector> == <Value>            <Selector> != <Value>
//! <Selector> is empty              <Selector> is not empty
//! <Value> in <Selector>            <Value> not in <Selector>
//! <Selector> contains <Value>      <Selector> not contains <Value>
//! <Selector> matches <Value>       <Selector> not matches <Value>     (regular expression)
//! ```
//!
//! Selectors name a field by its JSON key, case-sensitively: `Status`, `Meta.owner`,
//! `NodeResources.Cpu.CpuShares`. A key that is not a plain name goes in brackets, quoted:
//! `Meta["my-key"]`; a bracketed number indexes an array: `Tags[0]` (or `Tags["0"]`).
//! Names are `[A-Za-z_][A-Za-z0-9_/]*`; whitespace between tokens is ignored.
//!
//! Values are double-quoted strings (`"a\tb"`, with Go's escapes), backtick raw strings
//! (`` `^web-\d+$` ``, no escapes), base-10 numbers (`50`, `-1`, `0.5`, `1e3`), or bare words
//! (`running`, `true`, `dc1.rack2`) which stand for their own text. A value is compared as the
//! type of the field it meets; see [`Filter::matches`] for the rules.
//!
//! Nesting of parentheses and `not` is capped at [`MAX_DEPTH`] levels.

mod eval;
mod lexer;
mod parser;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

/// How deep parentheses and `not` may nest before [`Filter::parse`] refuses the expression.
pub const MAX_DEPTH: usize = 64;

/// A parsed filter expression, ready to test items with [`Filter::matches`].
#[derive(Debug, Clone)]
pub struct Filter {
    source: String,
    expr: parser::Expr,
}

/// Why an expression did not parse, and the 1-based character column where.
///
/// Displays as `filter: <what is wrong> at column <n>`, for example
/// `filter: expected a value after "==", found end of input at column 14`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("filter: {message} at column {column}")]
pub struct FilterError {
    message: String,
    column: usize,
}

impl FilterError {
    pub(crate) fn new(message: impl Into<String>, column: usize) -> Self {
        FilterError {
            message: message.into(),
            column,
        }
    }

    /// What is wrong, without the `filter:` prefix and the column.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// 1-based column, counted in characters; one past the end for "found end of input".
    pub fn column(&self) -> usize {
        self.column
    }
}

impl Filter {
    /// Parses `expr`. An empty (or all-whitespace) expression is an error: a caller that
    /// treats an empty `?filter=` as "no filter" should check for that before calling.
    /// Regular expressions are compiled here, so a bad one is reported here.
    pub fn parse(expr: &str) -> Result<Filter, FilterError> {
        let tokens = lexer::lex(expr)?;
        let parsed = parser::parse(tokens)?;
        Ok(Filter {
            source: expr.to_string(),
            expr: parsed,
        })
    }

    /// Whether `item` (one element of a list response, as JSON) passes the filter.
    ///
    /// - Strings compare as strings. Against a number or bool field the value's text is read
    ///   as that type (`Priority == 50`, `Stop == false`; bools take Go's spellings `true`,
    ///   `True`, `TRUE`, `t`, `1` and their false forms); text that does not read as the
    ///   field's type is not equal.
    /// - `contains`/`in`: an array holds an equal element, an object has the key, a string
    ///   has the substring. Numbers and bools contain nothing.
    /// - `matches`: the regex finds a match anywhere (anchor it with `^…$`) in a string, or in
    ///   the JSON text of a number or bool.
    /// - `is empty`: missing, `null`, `""`, `[]` and `{}`.
    /// - A selector that finds nothing, or `null`: `==`, `contains`, `in` and `matches` are
    ///   false, so their negations (`!=`, `not contains`, `not in`, `not matches`) are true.
    pub fn matches(&self, item: &Value) -> bool {
        eval::eval(&self.expr, item)
    }

    /// The expression as it was given to [`Filter::parse`].
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl FromStr for Filter {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Filter, FilterError> {
        Filter::parse(s)
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}
