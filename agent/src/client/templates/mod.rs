//! A task's `template` blocks: rendered into the task directory before the task starts, and
//! again whenever the services or variables they read change; a changed file then restarts or
//! signals the task, or runs a script in it, as its `change_mode` says.
//!
//! The watcher holds blocking queries on the service catalog and on the task's variables (only
//! those the templates use), renders every template from the newest data, and reports the ones
//! whose output changed to the task runner, which acts on them.

mod funcs;

pub use funcs::TemplateData;

use crate::rpc::ServerRpc;
use api::gotemplate::Template as GoTemplate;
use api::Template;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How long one blocking query on the servers may wait.
const QUERY_WAIT: Duration = Duration::from_secs(300);
/// How long to wait before asking again after a failed query.
const RETRY: Duration = Duration::from_secs(2);

/// What to do after templates re-rendered: the union of their change modes.
#[derive(Debug, Default, Clone)]
pub struct TemplateChange {
    pub restart: bool,
    pub signals: Vec<String>,
    pub scripts: Vec<api::ChangeScript>,
    /// The environment the `env = true` templates give now.
    pub env: BTreeMap<String, String>,
}

pub struct TaskTemplates {
    specs: Vec<Template>,
    task_dir: PathBuf,
    alloc_id: String,
    task: String,
    servers: Arc<dyn ServerRpc>,
    data: TemplateData,
    uses_services: bool,
    uses_variables: bool,
    catalog_index: u64,
    variables_index: u64,
    /// What each template rendered last.
    last: Vec<Option<String>>,
}

impl TaskTemplates {
    pub fn new(
        specs: Vec<Template>,
        task_dir: PathBuf,
        alloc: &api::Allocation,
        task: &str,
        env: BTreeMap<String, String>,
        servers: Arc<dyn ServerRpc>,
    ) -> TaskTemplates {
        let text: String = specs.iter().map(|t| t.embedded_tmpl.as_str()).collect();
        // Templates from a file (`source`) may use anything: watch both.
        let from_files = specs.iter().any(|t| !t.source_path.is_empty());
        TaskTemplates {
            uses_services: from_files || text.contains("nomadService"),
            uses_variables: from_files || text.contains("nomadVar"),
            last: vec![None; specs.len()],
            specs,
            task_dir,
            alloc_id: alloc.id.clone(),
            task: task.to_string(),
            servers,
            data: TemplateData {
                env,
                namespace: alloc.namespace.clone(),
                ..TemplateData::default()
            },
            catalog_index: 0,
            variables_index: 0,
        }
    }

    /// Fetches what the templates read and renders them all. Returns the environment of the
    /// `env = true` templates.
    pub async fn first_render(&mut self) -> Result<BTreeMap<String, String>, String> {
        self.refresh(Duration::ZERO).await?;
        Ok(self.render()?.env)
    }

    /// Waits until what the templates read changes and a template's output with it; returns
    /// what the change modes ask for.
    pub async fn next_change(&mut self) -> TemplateChange {
        loop {
            if !self.uses_services && !self.uses_variables {
                // Nothing to watch: the files never change again.
                std::future::pending::<()>().await;
            }
            if let Err(e) = self.refresh(QUERY_WAIT).await {
                tracing::warn!(alloc = %self.alloc_id, task = %self.task, error = %e, "template data");
                tokio::time::sleep(RETRY).await;
                continue;
            }
            let wait = self
                .specs
                .iter()
                .filter_map(|t| t.wait.as_ref())
                .map(|w| w.min)
                .max();
            if let Some(quiet) = wait.filter(|d| !d.is_zero()) {
                // `wait { min }`: let a burst of changes settle, then render the newest data.
                tokio::time::sleep(quiet).await;
                let _ = self.refresh(Duration::ZERO).await;
            }
            match self.render() {
                Ok(change)
                    if change.restart
                        || !change.signals.is_empty()
                        || !change.scripts.is_empty() =>
                {
                    let splay = self.specs.iter().map(|t| t.splay).max().unwrap_or_default();
                    if !splay.is_zero() {
                        let ms = rand::random_range(0..=splay.as_millis() as u64);
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                    }
                    return change;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(alloc = %self.alloc_id, task = %self.task, error = %e, "template render")
                }
            }
        }
    }

    /// Asks the servers for the catalog and variables past what was seen; with a zero `wait`
    /// it returns at once with the current data.
    async fn refresh(&mut self, wait: Duration) -> Result<(), String> {
        let (ci, vi) = if wait.is_zero() {
            (0, 0)
        } else {
            (self.catalog_index, self.variables_index)
        };
        let servers = self.servers.clone();
        let catalog = async {
            match self.uses_services {
                true => servers.catalog(ci, wait).await.map(Some),
                false => Ok(None),
            }
        };
        let variables = async {
            match self.uses_variables {
                true => servers
                    .task_variables(&self.alloc_id, &self.task, vi, wait)
                    .await
                    .map(Some),
                false => Ok(None),
            }
        };
        // Either side changing is enough: the other keeps its last answer.
        let (c, v) = if wait.is_zero() {
            tokio::join!(catalog, variables)
        } else {
            tokio::select! {
                c = catalog => (c, Ok(None)),
                v = variables => (Ok(None), v),
            }
        };
        if let Some(c) = c.map_err(|e| format!("reading the service catalog: {e}"))? {
            self.catalog_index = c.index;
            self.data.services = c.services;
        }
        if let Some(v) = v.map_err(|e| format!("reading variables: {e}"))? {
            self.variables_index = v.index;
            self.data.variables = v.vars;
        }
        Ok(())
    }

    /// Renders every template from the current data and writes those whose output changed.
    fn render(&mut self) -> Result<TemplateChange, String> {
        let funcs = funcs::funcs(Arc::new(self.data.clone()));
        let mut change = TemplateChange::default();
        for (i, spec) in self.specs.iter().enumerate() {
            let what = format!("template {} ({})", i + 1, spec.dest_path);
            let source = match spec.source_path.as_str() {
                "" => spec.embedded_tmpl.clone(),
                path => std::fs::read_to_string(self.task_dir.join(path))
                    .map_err(|e| format!("{what}: reading its source {path}: {e}"))?,
            };
            let tmpl = GoTemplate::parse_delims(&spec.dest_path, &source, &funcs, &spec.delims())
                .map_err(|e| {
                format!(
                    "{what}: {}",
                    api::job::explain_template_error(&e.to_string())
                )
            })?;
            let out = tmpl
                .render(&serde_json::Value::Null, &funcs)
                .map_err(|e| format!("{what}: {e}"))?;
            if spec.err_missing_key && out.contains("<no value>") {
                return Err(format!(
                    "{what}: a key the template reads is missing (error_on_missing_key)"
                ));
            }
            if spec.envvars {
                change.env.extend(parse_env(&out));
            }
            if self.last[i].as_deref() == Some(out.as_str()) {
                continue;
            }
            write_file(&self.task_dir, spec, &out).map_err(|e| format!("{what}: {e}"))?;
            let first = self.last[i].is_none();
            self.last[i] = Some(out);
            if first {
                continue;
            }
            match spec.change_mode.as_str() {
                "signal" => change.signals.push(spec.change_signal.clone()),
                "script" => change.scripts.extend(spec.change_script.clone()),
                "noop" => {}
                _ => change.restart = true,
            }
        }
        Ok(change)
    }
}

/// `KEY=value` lines (blank lines and `#` comments skipped, one level of quotes taken off), as
/// an `env = true` template's output is read.
pub fn parse_env(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
            .unwrap_or(v);
        out.insert(k.trim().to_string(), v.to_string());
    }
    out
}

/// Writes `content` to the template's destination in the task directory: a temporary file
/// renamed into place, so the task never reads half a file, with its mode and owner.
fn write_file(task_dir: &Path, spec: &Template, content: &str) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dest = task_dir.join(&spec.dest_path);
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = dest.with_extension("nomad-tmp");
    std::fs::write(&tmp, content)?;
    let mode = u32::from_str_radix(&spec.perms, 8).unwrap_or(0o644);
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
    if spec.uid.is_some() || spec.gid.is_some() {
        std::os::unix::fs::chown(&tmp, spec.uid, spec.gid)?;
    }
    std::fs::rename(&tmp, &dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_templates_read_as_dotenv() {
        let env =
            parse_env("# db\nDB_HOST=10.0.0.1\nexport DB_PORT=\"5432\"\n\nBAD LINE\nQ='x y'\n");
        assert_eq!(env["DB_HOST"], "10.0.0.1");
        assert_eq!(env["DB_PORT"], "5432");
        assert_eq!(env["Q"], "x y");
        assert_eq!(env.len(), 3);
    }

    #[test]
    fn functions_read_the_catalog_variables_and_env() {
        let mut data = TemplateData {
            namespace: "default".into(),
            ..Default::default()
        };
        data.env.insert("NOMAD_TASK_NAME".into(), "web".into());
        for (port, ns) in [(8081, "default"), (8080, "default"), (9000, "other")] {
            data.services.push(api::ServiceRegistration {
                id: format!("s{port}"),
                service_name: "api".into(),
                namespace: ns.into(),
                address: "10.0.0.5".into(),
                port,
                tags: vec!["v1".into()],
                ..Default::default()
            });
        }
        let mut v = api::variable::Variable {
            namespace: "default".into(),
            path: "nomad/jobs/web".into(),
            ..Default::default()
        };
        v.items.insert("password".into(), "s3cret".into());
        data.variables.push(v);
        let f = funcs::funcs(Arc::new(data));
        let render = |src: &str| {
            GoTemplate::parse_with("t", src, &f)
                .and_then(|t| t.render(&serde_json::Value::Null, &f))
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            render("{{ range nomadService \"api\" }}{{ .Address }}:{{ .Port }} {{ end }}").unwrap(),
            "10.0.0.5:8080 10.0.0.5:8081 "
        );
        assert_eq!(
            render("{{ range nomadServices }}{{ .Name }}{{ .Tags }}{{ end }}").unwrap(),
            "api[v1]"
        );
        assert_eq!(
            render("{{ with nomadVar \"nomad/jobs/web\" }}{{ .password }}{{ end }}").unwrap(),
            "s3cret"
        );
        assert_eq!(
            render("{{ nomadVarExists \"nomad/jobs/other\" }}").unwrap(),
            "false"
        );
        assert!(render("{{ nomadVar \"nomad/jobs/other\" }}")
            .unwrap_err()
            .contains("no such variable"));
        assert_eq!(
            render("{{ env \"NOMAD_TASK_NAME\" | toUpper }}").unwrap(),
            "WEB"
        );
        assert_eq!(
            render("{{ split \",\" \"a,b\" | join \"-\" }}").unwrap(),
            "a-b"
        );
    }

    #[test]
    fn the_sharding_form_picks_a_stable_even_subset() {
        // Scenario: ten instances; each of 200 callers asks for 3 with its own key. Every caller
        // gets 3, the same 3 on every render, and each instance serves some callers but none
        // serves most of them. One instance leaving changes the picks of only its own callers.
        let mut data = TemplateData {
            namespace: "default".into(),
            ..Default::default()
        };
        for i in 0..10 {
            data.services.push(api::ServiceRegistration {
                id: format!("inst-{i}"),
                service_name: "db".into(),
                namespace: "default".into(),
                address: format!("10.0.0.{i}"),
                port: 5432,
                ..Default::default()
            });
        }
        let picks = |data: &TemplateData, key: &str| -> Vec<String> {
            let f = funcs::funcs(Arc::new(data.clone()));
            let src = format!(
                "{{{{ range nomadService 3 \"{key}\" \"db\" }}}}{{{{ .Address }}}} {{{{ end }}}}"
            );
            let out = GoTemplate::parse_with("t", &src, &f)
                .and_then(|t| t.render(&serde_json::Value::Null, &f))
                .unwrap();
            out.split_whitespace().map(str::to_string).collect()
        };
        let mut served: BTreeMap<String, usize> = BTreeMap::new();
        let mut before = Vec::new();
        for k in 0..200 {
            let p = picks(&data, &format!("alloc-{k}"));
            assert_eq!(p.len(), 3);
            assert_eq!(p, picks(&data, &format!("alloc-{k}")));
            for a in &p {
                *served.entry(a.clone()).or_default() += 1;
            }
            before.push(p);
        }
        assert_eq!(served.len(), 10, "{served:?}");
        assert!(served.values().all(|n| *n > 20 && *n < 110), "{served:?}");
        data.services.retain(|s| s.id != "inst-0");
        for (k, old) in before.iter().enumerate() {
            let new = picks(&data, &format!("alloc-{k}"));
            if !old.contains(&"10.0.0.0".to_string()) {
                assert_eq!(&new, old, "a caller without the gone instance moved");
            }
        }
        let f = funcs::funcs(Arc::new(data));
        let err = GoTemplate::parse_with("t", "{{ nomadService 0 \"k\" \"db\" }}", &f)
            .and_then(|t| t.render(&serde_json::Value::Null, &f))
            .unwrap_err()
            .to_string();
        assert!(err.contains("positive number"), "{err}");
    }
}
