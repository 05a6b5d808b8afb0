//! A task's `template` blocks: files (or environment variables) rendered from Go templates, as
//! consul-template renders them for Nomad, before the task starts and again when what they read
//! changes. The functions they may call are [`TEMPLATE_FUNCTIONS`]; consul-template's Consul and
//! Vault functions are refused by name.

use crate::duration::nanos;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Template {
    /// A template file in the task directory (from an artifact), instead of `EmbeddedTmpl`.
    #[serde(default)]
    pub source_path: String,
    /// Where the result goes, relative to the task directory (`local/app.conf`).
    #[serde(default)]
    pub dest_path: String,
    #[serde(default)]
    pub embedded_tmpl: String,
    /// restart, signal, noop or script.
    #[serde(default)]
    pub change_mode: String,
    #[serde(default)]
    pub change_signal: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_script: Option<ChangeScript>,
    /// The change mode runs after a random delay up to this, so that many tasks do not restart
    /// at once.
    #[serde(with = "nanos", default)]
    pub splay: Duration,
    #[serde(default)]
    pub perms: String,
    #[serde(rename = "Uid", default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(rename = "Gid", default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    #[serde(default)]
    pub left_delim: String,
    #[serde(default)]
    pub right_delim: String,
    /// The result is `KEY=value` lines, added to the task's environment.
    #[serde(default)]
    pub envvars: bool,
    /// Quiet time after a change before rendering (min), and the longest wait (max).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<TemplateWait>,
    /// A map key that is missing fails the render instead of printing `<no value>`.
    #[serde(rename = "ErrMissingKey", default)]
    pub err_missing_key: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TemplateWait {
    #[serde(with = "nanos", default)]
    pub min: Duration,
    #[serde(with = "nanos", default)]
    pub max: Duration,
}

/// `change_mode = "script"`: a command run inside the task when the template changes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChangeScript {
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(with = "nanos", default)]
    pub timeout: Duration,
    #[serde(default)]
    pub fail_on_error: bool,
}

/// The functions a task template may call beyond Go's own: the task's environment, the
/// service catalog and Nomad Variables, as consul-template offers them to Nomad jobs.
pub const TEMPLATE_FUNCTIONS: &[&str] = &[
    "env",
    "nomadService",
    "nomadServices",
    "nomadVar",
    "nomadVarList",
    "nomadVarExists",
    "toJSON",
    "toJSONPretty",
    "parseJSON",
    "toUpper",
    "toLower",
    "trimSpace",
    "split",
    "join",
    "replaceAll",
    "contains",
];

/// consul-template functions Nomad jobs use that read Consul or Vault: refused by name.
pub const UNSUPPORTED_FUNCTIONS: &[(&str, &str)] = &[
    ("key", "Consul KV"),
    ("keyOrDefault", "Consul KV"),
    ("ls", "Consul KV"),
    ("tree", "Consul KV"),
    ("safeLs", "Consul KV"),
    ("safeTree", "Consul KV"),
    ("service", "Consul service discovery"),
    ("services", "Consul service discovery"),
    ("connect", "Consul Connect"),
    ("caRoots", "Consul Connect"),
    ("caLeaf", "Consul Connect"),
    ("node", "Consul's catalog"),
    ("nodes", "Consul's catalog"),
    ("secret", "Vault"),
    ("secrets", "Vault"),
    ("pkiCert", "Vault"),
];

impl Template {
    /// The delimiters, Go's by default.
    /// The delimiters as the template engine takes them.
    pub fn delims(&self) -> crate::gotemplate::Delims {
        let (left, right) = self.delimiters();
        crate::gotemplate::Delims {
            left: left.to_string(),
            right: right.to_string(),
        }
    }

    pub fn delimiters(&self) -> (&str, &str) {
        let l = if self.left_delim.is_empty() {
            "{{"
        } else {
            &self.left_delim
        };
        let r = if self.right_delim.is_empty() {
            "}}"
        } else {
            &self.right_delim
        };
        (l, r)
    }

    /// What is wrong with the block, for the job's validation.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.dest_path.is_empty() {
            out.push("needs a destination".to_string());
        } else if !inside_task_dir(&self.dest_path) {
            out.push(format!(
                "destination {:?} leaves the task directory: use a path such as local/app.conf",
                self.dest_path
            ));
        }
        match (self.embedded_tmpl.is_empty(), self.source_path.is_empty()) {
            (true, true) => out.push("needs data or a source".into()),
            (false, false) => out.push("give data or a source, not both".into()),
            (true, false) if !inside_task_dir(&self.source_path) => out.push(format!(
                "source {:?} leaves the task directory: templates come from the job or its artifacts",
                self.source_path
            )),
            _ => {}
        }
        match self.change_mode.as_str() {
            "" | "restart" | "noop" => {}
            "signal" if self.change_signal.is_empty() => {
                out.push("change_mode \"signal\" needs a change_signal".into())
            }
            "signal" => {}
            "script"
                if self
                    .change_script
                    .as_ref()
                    .is_none_or(|s| s.command.is_empty()) =>
            {
                out.push("change_mode \"script\" needs a change_script block with a command".into())
            }
            "script" => {}
            other => out.push(format!(
                "change_mode {other:?} must be one of restart, signal, noop, script"
            )),
        }
        if let Some(w) = self
            .wait
            .as_ref()
            .filter(|w| !w.max.is_zero() && w.max < w.min)
        {
            out.push(format!(
                "wait max ({:?}) is shorter than min ({:?})",
                w.max, w.min
            ));
        }
        if !self.perms.is_empty() && u32::from_str_radix(&self.perms, 8).is_err() {
            out.push(format!(
                "perms {:?} is not an octal mode such as \"0644\"",
                self.perms
            ));
        }
        let (l, r) = self.delimiters();
        if l.trim().is_empty() || r.trim().is_empty() {
            out.push("left_delimiter and right_delimiter must not be blank".into());
        }
        if !self.embedded_tmpl.is_empty() {
            if let Err(e) = crate::gotemplate::Template::parse_delims(
                "template",
                &self.embedded_tmpl,
                &function_names(),
                &self.delims(),
            ) {
                out.push(explain(&e.to_string()));
            }
        }
        out
    }
}

/// Names only, for checking a template at submit time; the agent supplies the functions.
pub fn function_names() -> crate::gotemplate::Funcs {
    let mut f = crate::gotemplate::Funcs::builtin();
    for name in TEMPLATE_FUNCTIONS {
        f.insert(
            *name,
            std::sync::Arc::new(|_: &[serde_json::Value]| Ok(serde_json::Value::Null)),
        );
    }
    f
}

/// consul-template's other functions that this renderer does not have yet: a template using
/// one is refused with its name, as a missing feature rather than a typo.
const OTHER_CONSUL_TEMPLATE_FUNCTIONS: &[&str] = &[
    "sockaddr",
    "datacenters",
    "file",
    "keyExists",
    "partitions",
    "peerings",
    "exportedServices",
    "executeTemplate",
    "writeToFile",
    "scratch",
    "base64Decode",
    "base64Encode",
    "base64URLDecode",
    "base64URLEncode",
    "byKey",
    "byTag",
    "byMeta",
    "containsAll",
    "containsAny",
    "containsNone",
    "containsNotAll",
    "envOrDefault",
    "explode",
    "explodeMap",
    "indent",
    "in",
    "loop",
    "parseBool",
    "parseFloat",
    "parseInt",
    "parseUint",
    "parseYAML",
    "plugin",
    "regexMatch",
    "regexReplaceAll",
    "sha256Hex",
    "md5sum",
    "hmacSHA256Hex",
    "splitToMap",
    "timestamp",
    "toUnescapedJSON",
    "toUnescapedJSONPretty",
    "toTitle",
    "toTOML",
    "toYAML",
    "add",
    "subtract",
    "multiply",
    "divide",
    "modulo",
    "minimum",
    "maximum",
    "spew_dump",
    "spew_printf",
    "spew_sdump",
    "spew_sprintf",
    "trimPrefix",
    "trimSuffix",
    "sprig_",
];

/// A parse error about an undefined consul-template function says what it is: one that reads
/// Consul or Vault, or one of consul-template's own this renderer lacks, rather than "not
/// defined".
pub fn explain(message: &str) -> String {
    for (name, what) in UNSUPPORTED_FUNCTIONS {
        if message.contains(&format!("function {name:?} not defined")) {
            return format!("{message}: the consul-template function {name:?} reads {what}, which is not supported");
        }
    }
    for name in OTHER_CONSUL_TEMPLATE_FUNCTIONS {
        let prefix = format!("function \"{name}");
        let exact = format!("function {name:?} not defined");
        let matches = if name.ends_with('_') {
            message.contains(&prefix) && message.contains("not defined")
        } else {
            message.contains(&exact)
        };
        if matches {
            return format!(
                "{message}: the consul-template function {name:?} is not supported by this \
                 template renderer"
            );
        }
    }
    message.to_string()
}

/// A relative path that stays inside the task directory (no `..` climbing out, not absolute).
fn inside_task_dir(path: &str) -> bool {
    if path.starts_with('/') {
        return false;
    }
    let mut depth = 0i32;
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => depth -= 1,
            _ => depth += 1,
        }
        if depth < 0 {
            return false;
        }
    }
    depth > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(data: &str, dest: &str) -> Template {
        Template {
            embedded_tmpl: data.into(),
            dest_path: dest.into(),
            change_mode: "restart".into(),
            ..Default::default()
        }
    }

    #[test]
    fn problems_name_what_to_fix() {
        assert!(t("{{ env \"NOMAD_TASK_NAME\" }}", "local/a.conf")
            .problems()
            .is_empty());
        let ok = t(
            "{{ range nomadService \"web\" }}{{ .Address }}:{{ .Port }}{{ end }}",
            "local/x",
        );
        assert!(ok.problems().is_empty(), "{:?}", ok.problems());
        assert!(t("x", "../../etc/passwd").problems()[0].contains("leaves the task directory"));
        assert!(t("x", "/etc/passwd").problems()[0].contains("leaves the task directory"));
        let p = t("{{ key \"app/config\" }}", "local/x").problems();
        assert!(p[0].contains("Consul KV, which is not supported"), "{p:?}");
        let p = t("{{ with secret \"kv/x\" }}{{ end }}", "local/x").problems();
        assert!(p[0].contains("Vault"), "{p:?}");
        let p = t("{{ .Unclosed ", "local/x").problems();
        assert!(p[0].starts_with("template: template:1:"), "{p:?}");
        let mut s = t("x", "local/x");
        s.change_mode = "script".into();
        assert!(s.problems()[0].contains("change_script"));
        s.change_mode = "signal".into();
        assert!(s.problems()[0].contains("change_signal"));
        let mut p = t("x", "local/x");
        p.perms = "rw".into();
        assert!(p.problems()[0].contains("octal"));
    }
}
