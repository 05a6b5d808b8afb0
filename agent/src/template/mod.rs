//! The agent's own template renderer, which replaces consul-template: each `template` block of
//! the agent config watches the service catalog with blocking queries, gathers a burst of changes
//! (`wait { min max }`), renders its minijinja template, and puts the result in place through
//! [`writer`] (check, keep or undo, then the reload command). It runs in any agent: a server reads
//! its own state, a client asks its servers.

mod context;
mod render;
mod writer;

pub use writer::CommandResult;

use crate::config::TemplateConfig;
use crate::rpc::{Catalog, RpcError, ServerRpc};
use context::View;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use writer::Applied;

/// How long one blocking query on the catalog may wait.
const WATCH_WAIT: Duration = Duration::from_secs(300);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A failure, and when it happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TemplateError {
    pub time: i64,
    pub message: String,
}

/// Why `nomadctl template render` produced nothing.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("cannot read the service catalog: {0}")]
    Catalog(#[source] RpcError),
    /// The template's own error, with where in it.
    #[error("{0}")]
    Template(String),
}

/// What one template block has done, for `/v1/agent/templates` and the metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TemplateStatus {
    pub source: String,
    pub destination: String,
    /// Renders attempted (each burst of catalog changes is one).
    pub renders: u64,
    /// Renders that changed the destination and were kept.
    pub changes: u64,
    pub errors: u64,
    pub check_failures: u64,
    pub command_failures: u64,
    /// Unix nanoseconds of the last render, and the catalog index it saw.
    pub last_render: i64,
    pub last_render_index: u64,
    pub last_change: i64,
    /// The last failure; cleared by the next render that goes through.
    pub last_error: Option<TemplateError>,
    pub last_check: Option<CommandResult>,
    pub last_command: Option<CommandResult>,
}

struct Worker {
    cfg: TemplateConfig,
    status: Mutex<TemplateStatus>,
}

pub struct Renderer {
    workers: Vec<Arc<Worker>>,
    catalog: Arc<dyn ServerRpc>,
    local_meta: BTreeMap<String, String>,
    stop: watch::Sender<bool>,
}

fn now() -> i64 {
    crate::client::events::now_nanos()
}

/// Renders a template text against a catalog, off the async threads (a large catalog takes a
/// few milliseconds).
async fn render_text(
    name: String,
    text: String,
    catalog: Catalog,
    meta: BTreeMap<String, String>,
) -> Result<String, String> {
    tokio::task::spawn_blocking(move || {
        let view = Arc::new(View::new(&catalog, &meta));
        let dir = Path::new(&name).parent().map(Path::to_path_buf);
        render::render(&name, &text, dir.as_deref(), &view)
    })
    .await
    .unwrap_or_else(|e| Err(format!("the render stopped: {e}")))
}

impl Renderer {
    /// Starts one worker per template block. `catalog` is where the catalog comes from: the
    /// local server, or the client's servers.
    pub fn start(
        cfgs: Vec<TemplateConfig>,
        catalog: Arc<dyn ServerRpc>,
        local_meta: BTreeMap<String, String>,
    ) -> Arc<Renderer> {
        let (stop, _) = watch::channel(false);
        let workers: Vec<Arc<Worker>> = cfgs
            .into_iter()
            .map(|cfg| {
                Arc::new(Worker {
                    status: Mutex::new(TemplateStatus {
                        source: cfg.source.display().to_string(),
                        destination: cfg.destination.display().to_string(),
                        ..Default::default()
                    }),
                    cfg,
                })
            })
            .collect();
        let r = Arc::new(Renderer {
            workers,
            catalog,
            local_meta,
            stop,
        });
        for w in &r.workers {
            tokio::spawn(w.clone().run(
                r.catalog.clone(),
                r.local_meta.clone(),
                r.stop.subscribe(),
            ));
        }
        r
    }

    pub fn statuses(&self) -> Vec<TemplateStatus> {
        self.workers.iter().map(|w| w.status()).collect()
    }

    pub fn shutdown(&self) {
        self.stop.send_replace(true);
    }

    /// Renders `text` once against the live catalog (`nomadctl template render`). Writes nothing.
    pub async fn render_once(&self, name: &str, text: &str) -> Result<String, RenderError> {
        let catalog = self
            .catalog
            .catalog(0, Duration::ZERO)
            .await
            .map_err(RenderError::Catalog)?;
        render_text(
            name.to_string(),
            text.to_string(),
            catalog,
            self.local_meta.clone(),
        )
        .await
        .map_err(RenderError::Template)
    }
}

impl Worker {
    fn status(&self) -> TemplateStatus {
        match self.status.lock() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn update(&self, f: impl FnOnce(&mut TemplateStatus)) {
        match self.status.lock() {
            Ok(mut s) => f(&mut s),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    fn fail(&self, message: String) {
        tracing::warn!(template = %self.cfg.source.display(), error = %message, "template failed");
        self.update(|s| {
            s.errors += 1;
            s.last_error = Some(TemplateError {
                time: now(),
                message,
            });
        });
    }

    async fn run(
        self: Arc<Self>,
        catalog: Arc<dyn ServerRpc>,
        meta: BTreeMap<String, String>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut index = 0u64;
        let mut backoff = Duration::from_millis(250);
        loop {
            let got = tokio::select! {
                r = catalog.catalog(index, WATCH_WAIT) => r,
                _ = stop.wait_for(|s| *s) => return,
            };
            let mut current = match got {
                Ok(c) => c,
                Err(e) => {
                    self.fail(format!("cannot read the service catalog: {e}"));
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.wait_for(|s| *s) => return,
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            backoff = Duration::from_millis(250);
            if index != 0 {
                if current.index <= index {
                    continue; // the query's wait ran out without a change
                }
                current = self.gather(&*catalog, current).await;
            }
            index = current.index;
            self.render_and_apply(current, &meta).await;
        }
    }

    /// Waits for the burst to end: `wait_min` without a change, or `wait_max` in all.
    async fn gather(&self, catalog: &dyn ServerRpc, mut current: Catalog) -> Catalog {
        let start = Instant::now();
        loop {
            let left = self.cfg.wait_max.saturating_sub(start.elapsed());
            if left.is_zero() {
                return current;
            }
            let quiet = self.cfg.wait_min.min(left);
            match tokio::time::timeout(quiet, catalog.catalog(current.index, WATCH_WAIT)).await {
                Ok(Ok(c)) if c.index > current.index => current = c,
                _ => return current,
            }
        }
    }

    async fn render_and_apply(&self, catalog: Catalog, meta: &BTreeMap<String, String>) {
        let name = self.cfg.source.display().to_string();
        let text = match tokio::fs::read_to_string(&self.cfg.source).await {
            Ok(t) => t,
            Err(e) => return self.fail(format!("reading the template {name}: {e}")),
        };
        let index = catalog.index;
        let rendered = render_text(name, text, catalog, meta.clone()).await;
        self.update(|s| {
            s.renders += 1;
            s.last_render = now();
            s.last_render_index = index;
        });
        let output = match rendered {
            Ok(o) => o,
            Err(e) => return self.fail(e),
        };
        match writer::apply(&self.cfg, output).await {
            Ok(Applied::Unchanged) => self.update(|s| s.last_error = None),
            Ok(Applied::Kept { check, command }) => {
                tracing::info!(destination = %self.cfg.destination.display(), "template rendered a change");
                if let Some(c) = command.as_ref().filter(|c| !c.ok()) {
                    tracing::warn!(command = %c.command, exit_code = c.exit_code, output = %c.output, "template command failed");
                }
                self.update(|s| {
                    s.changes += 1;
                    s.last_change = now();
                    s.last_error = None;
                    if command.as_ref().is_some_and(|c| !c.ok()) {
                        s.command_failures += 1;
                    }
                    if check.is_some() {
                        s.last_check = check;
                    }
                    if command.is_some() {
                        s.last_command = command;
                    }
                });
            }
            Ok(Applied::CheckFailed { check }) => {
                let message = format!(
                    "the check {:?} rejected the new {} (exit code {}), so the previous content \
                     was put back: {}",
                    check.command,
                    self.cfg.destination.display(),
                    check.exit_code,
                    check.output.trim()
                );
                self.update(|s| {
                    s.check_failures += 1;
                    s.last_check = Some(check);
                });
                self.fail(message);
            }
            Err(e) => self.fail(e.to_string()),
        }
    }
}
