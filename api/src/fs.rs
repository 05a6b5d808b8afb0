//! An allocation's files as `/v1/client/fs/ls` and `/stat` describe them.

use serde::{Deserialize, Serialize};

/// Nomad's `AllocFileInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllocFileInfo {
    pub name: String,
    pub is_dir: bool,
    pub size: u64,
    /// As Go prints a file mode: `drwxr-xr-x`, `-rw-r--r--`, `Lrwxrwxrwx`.
    pub file_mode: String,
    /// RFC 3339.
    pub mod_time: String,
    #[serde(default)]
    pub content_type: String,
}
