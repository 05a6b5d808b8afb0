//! The one error type of the jobspec parser: where (file, line, column) and what to fix.

use super::tree::TreeError;

/// A job or config file that cannot be used. Displays as `file:line:column: message`, or
/// `file: message` when the problem has no position (an unreadable file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct JobspecError {
    pub file: String,
    /// 1-based; 0 when the error has no position.
    pub line: usize,
    /// 1-based; 0 when the error has no position.
    pub column: usize,
    pub message: String,
}

impl JobspecError {
    pub fn new(file: &str, line: usize, column: usize, message: impl Into<String>) -> Self {
        JobspecError {
            file: file.to_string(),
            line,
            column,
            message: message.into(),
        }
    }

    /// An error about the whole file rather than one place in it.
    pub fn whole_file(file: &str, message: impl Into<String>) -> Self {
        JobspecError::new(file, 0, 0, message)
    }

    pub fn from_tree(file: &str, err: TreeError) -> Self {
        JobspecError::new(file, err.pos.line, err.pos.col, err.message)
    }

    fn render(&self) -> String {
        if self.line == 0 {
            format!("{}: {}", self.file, self.message)
        } else {
            format!(
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        }
    }
}
