//! Go's `text/template` language, evaluated over `serde_json::Value`.
//!
//! Used for the CLI's `-t '{{ ... }}'` output option and, later, for task `template` blocks, so
//! the function table is the caller's to extend ([`Funcs::insert`]). Semantics follow
//! <https://pkg.go.dev/text/template>. Go evaluates over typed values; here the data is JSON,
//! which has erased those types, so a few rules are read leniently where Go's typed data would
//! have succeeded:
//!
//! - a field of `null` is "no value" (a nil Go map gives no value), `range` over `null` runs
//!   `{{else}}`, `len null` is 0 and `index null ...` is `null` (nil slices and maps);
//! - numbers compare across integer and float, `%f`/`%e`/`%g` accept integers and `%d` accepts
//!   floats with no fractional part (a Go struct field would have had the right type).
//!
//! Positions in errors are `line:col`, both 1-based, the column counted in characters: parse
//! errors point at the offending token, exec errors at the node being evaluated inside the
//! action (a function name, a field chain, or a whole `{{template}}` action), as Go's do.

mod ast;
mod exec;
mod funcs;
mod gofmt;
mod lex;
pub use lex::Delims;
mod parse;
mod pipeline;
mod printf;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_errors;
#[cfg(test)]
mod tests_fmt;

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

/// A template function: receives the evaluated arguments (a piped value comes last) and returns
/// the result or a message that is reported as `error calling NAME: MESSAGE`.
pub type Func = Arc<dyn Fn(&[Value]) -> Result<Value, String> + Send + Sync>;

#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// The source is malformed; `line:col` is where the offending token starts.
    #[error("template: {name}:{line}:{col}: {message}")]
    Parse {
        name: String,
        line: usize,
        col: usize,
        message: String,
    },
    /// Rendering failed; `line:col` and `context` are the node being evaluated, `template` the
    /// (possibly `define`d) template that contains it.
    #[error("template: {name}:{line}:{col}: executing \"{template}\" at <{context}>: {message}")]
    Exec {
        name: String,
        template: String,
        line: usize,
        col: usize,
        context: String,
        message: String,
    },
}

/// The functions a template may call: Go's builtins plus whatever the caller inserts.
#[derive(Clone)]
pub struct Funcs {
    map: HashMap<String, FuncKind>,
}

/// `and` and `or` are not plain functions: they must see their arguments unevaluated to stop at
/// the deciding one, as Go's do.
#[derive(Clone)]
enum FuncKind {
    And,
    Or,
    Plain(Func),
}

impl Funcs {
    /// Go's builtin functions (`and`, `or`, `not`, `len`, `index`, `slice`, `print`, `printf`,
    /// `println`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `html`, `js`, `urlquery`, `call`).
    pub fn builtin() -> Funcs {
        let mut map = HashMap::new();
        funcs::install(&mut map);
        Funcs { map }
    }

    /// Adds `name`, or replaces it, builtins included.
    pub fn insert(&mut self, name: impl Into<String>, f: Func) {
        self.map.insert(name.into(), FuncKind::Plain(f));
    }

    fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }
}

impl Default for Funcs {
    fn default() -> Self {
        Funcs::builtin()
    }
}

impl std::fmt::Debug for Funcs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.map.keys().collect();
        names.sort();
        f.debug_struct("Funcs").field("names", &names).finish()
    }
}

/// A parsed template together with the templates its source `define`s.
#[derive(Clone, Debug)]
pub struct Template {
    name: String,
    src: String,
    trees: HashMap<String, ast::Tree>,
}

impl Template {
    /// Parses `src` against Go's builtin functions; `name` appears in error messages.
    pub fn parse(name: &str, src: &str) -> Result<Template, TemplateError> {
        Template::parse_with(name, src, &Funcs::builtin())
    }

    /// Parses `src`, refusing calls to functions that `funcs` does not define (as Go does).
    pub fn parse_with(name: &str, src: &str, funcs: &Funcs) -> Result<Template, TemplateError> {
        Template::parse_delims(name, src, funcs, &Delims::default())
    }

    /// Parses `src` whose actions open and close with `delims` (Go's `Delims`, consul-template's
    /// `left_delimiter` and `right_delimiter`).
    pub fn parse_delims(
        name: &str,
        src: &str,
        funcs: &Funcs,
        delims: &Delims,
    ) -> Result<Template, TemplateError> {
        let trees = parse::parse(name, src, funcs, delims)?;
        Ok(Template {
            name: name.to_string(),
            src: src.to_string(),
            trees,
        })
    }

    /// Executes the template with `data` as `.` and `$`.
    pub fn render(&self, data: &Value, funcs: &Funcs) -> Result<String, TemplateError> {
        exec::render(self, data, funcs)
    }
}

/// 1-based line and character column of byte offset `pos` in `src`.
fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let before = src.get(..pos).unwrap_or(src);
    let line = 1 + before.matches('\n').count();
    let col = 1 + before.rsplit('\n').next().map_or(0, |l| l.chars().count());
    (line, col)
}
