//! Artifacts through the real alloc runner, task runner and raw_exec driver: fetched over loopback
//! before the task starts, or failing the task (under its restart policy) without ever starting it.

use super::test_server::TestServer;
use crate::client::alloc_runner::{AllocRunner, RunnerContext};
use crate::client::events::EVENT_ARTIFACT_DOWNLOAD_FAILED;
use crate::client::logs::{log_files, read_logs, LogKind, LogOrigin};
use crate::client::state_db::StateDb;
use crate::client::taskenv::NodeInfo;
use api::{Allocation, Artifact, RestartPolicy, Task, TaskState};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

struct Harness {
    // Kept for its drop, which removes the alloc dirs and the db.
    _dir: tempfile::TempDir,
    ctx: RunnerContext,
}

impl Harness {
    fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(StateDb::open(&dir.path().join("state.db")).unwrap());
        let drivers = crate::drivers::builtin_drivers(&crate::drivers::DriverSettings {
            raw_exec_enabled: true,
            ..Default::default()
        });
        // Nobody reads the status reports here; the runner's own view is checked.
        let (updates, _) = tokio::sync::mpsc::unbounded_channel();
        let ctx = RunnerContext {
            drivers: Arc::new(drivers),
            db,
            node: Arc::new(NodeInfo::default()),
            alloc_base: dir.path().join("alloc"),
            updates,
            services: crate::client::services::unreachable_registry(),
            local_artifacts: false,
            host_volumes: Default::default(),
            servers: crate::client::services::unreachable_servers(),
            tls: None,
        };
        Harness { _dir: dir, ctx }
    }
}

/// A batch job with one raw_exec task `t` running `/bin/sh -c script`.
fn alloc(script: &str, artifacts: Vec<Artifact>, attempts: i32) -> Allocation {
    let task = Task {
        name: "t".into(),
        driver: "raw_exec".into(),
        config: BTreeMap::from([
            ("command".to_string(), serde_json::json!("/bin/sh")),
            ("args".to_string(), serde_json::json!(["-c", script])),
        ]),
        artifacts,
        ..Default::default()
    };
    let restart = RestartPolicy {
        attempts,
        interval: Duration::from_secs(600),
        delay: Duration::from_millis(10),
        mode: "fail".into(),
    };
    crate::client::tests::alloc("batch", task, restart)
}

/// Waits (with a deadline) until the runner has ended and returns the task's final state.
async fn finished(r: &AllocRunner) -> TaskState {
    tokio::time::timeout(Duration::from_secs(30), r.wait())
        .await
        .expect("the allocation runner did not end in time");
    r.task_states().remove("t").expect("task state of t")
}

fn types(st: &TaskState) -> Vec<&str> {
    st.events.iter().map(|e| e.event_type.as_str()).collect()
}

fn jar() -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file(
        "META-INF/MANIFEST.MF",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    std::io::Write::write_all(&mut w, b"Manifest-Version: 1.0\r\n\r\n").unwrap();
    w.finish().unwrap().into_inner()
}

#[tokio::test]
async fn task_reads_a_jar_fetched_over_loopback_with_a_checksum() {
    let h = Harness::new();
    let server = TestServer::start();
    let jar = jar();
    server.put("/dist/app.jar", &jar, 0);
    let art = Artifact {
        getter_source: server.url("/dist/app.jar"),
        getter_options: BTreeMap::from([(
            "checksum".to_string(),
            format!("sha256:{}", hex::encode(Sha256::digest(&jar))),
        )]),
        // Interpolated against the task env: <task dir>/local.
        relative_dest: "${NOMAD_TASK_DIR}".into(),
        ..Default::default()
    };
    let a = alloc("cat local/app.jar", vec![art], 0);
    let r = AllocRunner::start(a, BTreeMap::new(), &h.ctx);
    let st = finished(&r).await;
    assert_eq!((st.state.as_str(), st.failed), ("dead", false), "{st:?}");
    assert_eq!(
        types(&st),
        [
            "Received",
            "Task Setup",
            "Downloading Artifacts",
            "Started",
            "Terminated"
        ]
    );
    assert_eq!(
        st.events[2].display_message,
        "Client is downloading artifacts"
    );
    let files = log_files(&r.alloc_dir().logs_dir(), "t", LogKind::Stdout).unwrap();
    let (out, _) = read_logs(&files, LogOrigin::Start, 0, 1 << 20).unwrap();
    assert_eq!(out, jar, "the task printed the artifact byte for byte");
    assert_eq!(server.hits("/dist/app.jar"), 1);
    r.destroy().await;
}

#[tokio::test]
async fn wrong_checksum_fails_the_task_without_starting_it() {
    let h = Harness::new();
    let server = TestServer::start();
    let jar = jar();
    server.put("/app.jar", &jar, 0);
    let wrong = "ab".repeat(32);
    let art = Artifact {
        getter_source: format!("{}?checksum=sha256:{wrong}", server.url("/app.jar")),
        ..Default::default()
    };
    // One restart: the download is tried twice, then the task fails.
    let a = alloc("echo should-not-run", vec![art], 1);
    let r = AllocRunner::start(a, BTreeMap::new(), &h.ctx);
    let st = finished(&r).await;
    assert_eq!((st.state.as_str(), st.failed), ("dead", true), "{st:?}");
    assert_eq!(
        types(&st),
        [
            "Received",
            "Task Setup",
            "Downloading Artifacts",
            EVENT_ARTIFACT_DOWNLOAD_FAILED,
            "Restarting",
            "Downloading Artifacts",
            EVENT_ARTIFACT_DOWNLOAD_FAILED,
            "Not Restarting",
        ]
    );
    assert!(st.started_at.is_empty(), "the task never started");
    let failed = &st.events[3];
    let msg = &failed.display_message;
    assert!(msg.contains("checksum mismatch"), "{msg}");
    assert!(msg.contains(&format!("expected sha256:{wrong}")), "{msg}");
    assert!(
        msg.contains(&format!("got sha256:{}", hex::encode(Sha256::digest(&jar)))),
        "{msg}"
    );
    assert!(msg.contains("/app.jar"), "names the source: {msg}");
    assert_eq!(failed.details["download_error"], *msg);
    assert!(!failed.fails_task);
    assert!(st.events.last().is_some_and(|e| e.fails_task));
    assert_eq!(server.hits("/app.jar"), 2);
    let local = r.alloc_dir().local_dir("t");
    assert!(!local.join("app.jar").exists());
    r.destroy().await;
}

#[tokio::test]
async fn a_restarted_task_does_not_fetch_again() {
    let h = Harness::new();
    let server = TestServer::start();
    server.put("/note.txt", b"note", 0);
    let art = Artifact {
        getter_source: server.url("/note.txt"),
        ..Default::default()
    };
    let a = alloc("cat local/note.txt; exit 1", vec![art], 1);
    let r = AllocRunner::start(a, BTreeMap::new(), &h.ctx);
    let st = finished(&r).await;
    assert_eq!(
        (st.state.as_str(), st.failed, st.restarts),
        ("dead", true, 1)
    );
    let t = types(&st);
    assert_eq!(t.iter().filter(|e| **e == "Started").count(), 2, "{t:?}");
    assert_eq!(
        t.iter().filter(|e| **e == "Downloading Artifacts").count(),
        1,
        "{t:?}"
    );
    assert_eq!(server.hits("/note.txt"), 1);
    let files = log_files(&r.alloc_dir().logs_dir(), "t", LogKind::Stdout).unwrap();
    let (out, _) = read_logs(&files, LogOrigin::Start, 0, 1 << 20).unwrap();
    assert_eq!(out, b"notenote");
    r.destroy().await;
}
