//! The raft module on one node: openraft's storage suite against our redb store, and a single
//! server's writes surviving restarts by log replay and by snapshot.

use super::*;
use api::{Job, Task, TaskGroup};
use openraft::errors::ErrorSource;
use openraft::storage::RaftLogStorage;
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::StorageError;

fn storage_err<E: std::error::Error + 'static>(e: &E) -> StorageError<types::TypeConfig> {
    StorageError::read(ErrorSource::from_error(e))
}

struct RedbStoreBuilder;

impl StoreBuilder<types::TypeConfig, LogStore, StateMachine, tempfile::TempDir>
    for RedbStoreBuilder
{
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError<types::TypeConfig>> {
        let dir = tempfile::tempdir().map_err(|e| storage_err(&e))?;
        let db = redb::Database::create(dir.path().join("raft.db")).map_err(|e| storage_err(&e))?;
        let db = Arc::new(db);
        let log = LogStore::open(db.clone()).map_err(|e| storage_err(&e))?;
        let sm = StateMachine::open(dir.path(), &db, Arc::new(StateStore::default()))
            .map_err(|e| storage_err(&e))?;
        Ok((dir, log, sm))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openraft_storage_suite_passes() {
    // Scenario: openraft's own conformance tests for log and state machine storage, each on a
    // fresh redb file.
    Suite::test_all(RedbStoreBuilder).await.unwrap();
}

fn job(id: &str) -> Job {
    let mut j = Job {
        id: id.into(),
        name: id.into(),
        task_groups: vec![TaskGroup {
            name: "g".into(),
            tasks: vec![Task {
                name: "t".into(),
                driver: "raw_exec".into(),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    j.canonicalize();
    j
}

fn register(id: &str) -> Command {
    Command::JobRegister {
        job: Box::new(job(id)),
        eval: None,
        now: 1,
    }
}

fn me() -> ServerInfo {
    ServerInfo {
        id: 1,
        name: "s1.global".into(),
        rpc_addr: "127.0.0.1:1".into(),
        ..Default::default()
    }
}

fn options(dir: &std::path::Path, snapshot_threshold: u64, trailing_logs: u64) -> RaftOptions {
    RaftOptions {
        dir: dir.to_path_buf(),
        me: me(),
        snapshot_threshold,
        trailing_logs,
        snapshot_interval: Duration::from_millis(20),
    }
}

/// Opens raft on `dir`, retrying while an earlier instance's threads still hold the file.
async fn open(opts: &RaftOptions, state: Arc<StateStore>) -> Raft {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let opts = RaftOptions {
            dir: opts.dir.clone(),
            me: opts.me.clone(),
            ..*opts
        };
        match Raft::open(opts, state.clone(), RpcClient::new()).await {
            Ok(r) => return r,
            Err(e) if tokio::time::Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("reopening raft: {e}"),
        }
    }
}

async fn wait_leader(raft: &Raft) {
    let mut rx = raft.subscribe();
    tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|v| v.is_leader))
        .await
        .expect("no leadership within 10s")
        .expect("raft stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_replays_the_log_and_keeps_every_write() {
    // Scenario: a single server bootstraps, commits 20 concurrent registrations (group commit
    // batches them), shuts down, and a new instance on the same dir restores the same state
    // from the log alone, including job versions.
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path(), 100_000, 1000);
    let state = Arc::new(StateStore::default());
    let raft = Arc::new(open(&opts, state.clone()).await);
    assert!(!raft.has_state());
    raft.bootstrap(&[me()]).await.unwrap();
    wait_leader(&raft).await;
    let mut handles = Vec::new();
    for i in 0..20 {
        let r = raft.clone();
        handles.push(tokio::spawn(async move {
            // Each write is a different spec, so the second of each job is a new version.
            let mut j = job(&format!("j{}", i % 10));
            j.meta.insert("write".into(), i.to_string());
            r.apply(Command::JobRegister {
                job: Box::new(j),
                eval: None,
                now: 1,
            })
            .await
        }));
    }
    let mut indexes = Vec::new();
    for h in handles {
        indexes.push(h.await.unwrap().unwrap().0);
    }
    indexes.sort();
    indexes.dedup();
    assert_eq!(indexes.len(), 20, "every write got its own index");
    let last = state.index();
    raft.shutdown().await;
    drop(raft);

    let restored = Arc::new(StateStore::default());
    let raft = open(&opts, restored.clone()).await;
    assert!(raft.has_state(), "a restarted server knows it has state");
    wait_leader(&raft).await;
    // Replay happens as the node starts; the write barrier makes sure it is through.
    raft.read_barrier().await.unwrap();
    let snap = restored.snapshot();
    assert!(snap.index >= last, "{} < {last}", snap.index);
    assert_eq!(snap.jobs().count(), 10);
    assert_eq!(snap.job("default", "j3").unwrap().version, 1);
    assert_eq!(snap.job_versions("default", "j3").len(), 2);
    raft.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_proposed_together_apply_in_order_at_consecutive_indexes() {
    // Scenario: five versions of one job are proposed in one go, as the plan applier proposes a
    // batch's entries. They take consecutive indexes in the order given: the job ends at the
    // last spec, with every version kept, and the answer is the last entry's index.
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path(), 100_000, 1000);
    let state = Arc::new(StateStore::default());
    let raft = open(&opts, state.clone()).await;
    raft.bootstrap(&[me()]).await.unwrap();
    wait_leader(&raft).await;
    let before = state.index();
    let cmds = (0..5)
        .map(|i| {
            let mut j = job("ordered");
            j.meta.insert("write".into(), i.to_string());
            Command::JobRegister {
                job: Box::new(j),
                eval: None,
                now: 1,
            }
        })
        .collect();
    let last = raft.apply_many(cmds).await.unwrap();
    assert!(last >= before + 5, "{last} < {before} + 5");
    assert_eq!(state.index(), last, "answered once applied here");
    let snap = state.snapshot();
    let ordered = snap.job("default", "ordered").unwrap();
    assert_eq!(ordered.meta.get("write").map(String::as_str), Some("4"));
    assert_eq!(ordered.version, 4);
    raft.shutdown().await;
}

/// A single-server cluster on `opts` that has committed `n` job registrations.
async fn leader_with_jobs(opts: &RaftOptions, n: usize) -> (Raft, Arc<StateStore>) {
    let state = Arc::new(StateStore::default());
    let raft = open(opts, state.clone()).await;
    raft.bootstrap(&[me()]).await.unwrap();
    wait_leader(&raft).await;
    for i in 0..n {
        raft.apply(register(&format!("j{i}"))).await.unwrap();
    }
    (raft, state)
}

/// The index the log was purged up to, once the flusher has also deleted every entry below it
/// (a purge is recorded at once and carried out in the background); None before that.
async fn purged_and_deleted(raft: &Raft) -> Option<u64> {
    let purged = raft
        .log
        .clone()
        .get_log_state()
        .await
        .unwrap()
        .last_purged_log_id?;
    let first_stored = raft.log.first_stored_index().unwrap();
    (first_stored.is_none_or(|f| f > purged.index())).then_some(purged.index())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_compact_the_log_and_a_restart_restores_from_both() {
    // Scenario: with a snapshot every 5 entries and 2 kept behind it, 30 writes leave a stored
    // snapshot and a purged log; the state machine alone restores the snapshot, and a restarted
    // raft adds the entries after it, also when the snapshot sits where earlier versions kept it
    // (in the log's file, with no snapshot.db).
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path(), 5, 2);
    let (raft, _) = leader_with_jobs(&opts, 30).await;
    // Snapshots are built in the background: wait until one covers most of the writes.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while purged_and_deleted(&raft).await.is_none_or(|p| p < 20) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "log never compacted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    raft.shutdown().await;
    drop(raft);

    // The stored snapshot on its own.
    let open_db = |path: std::path::PathBuf| async move {
        loop {
            match redb::Database::create(&path) {
                Ok(db) => break db,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    };
    let log_db = open_db(dir.path().join("raft.db")).await;
    let from_snapshot = Arc::new(StateStore::default());
    StateMachine::open(dir.path(), &log_db, from_snapshot.clone()).unwrap();
    let in_snapshot = from_snapshot.snapshot().jobs().count();
    assert!((18..=30).contains(&in_snapshot), "{in_snapshot} jobs");

    // Earlier versions kept the snapshot in redb: in `snapshot.db`, and before that in the
    // log's file. Put it back in each place alone, as an upgraded server would find it.
    let file = dir.path().join("snapshot.bin");
    let (meta, data) = {
        let current = snapshot_file::SnapshotDir::new(dir.path())
            .current()
            .unwrap()
            .unwrap();
        let (meta, mut r) = current.read().unwrap();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut r, &mut data).unwrap();
        (meta, data)
    };
    let stored = state_machine::StoredSnapshot { meta, data };
    drop(log_db);
    for legacy in ["snapshot.db", "raft.db"] {
        std::fs::remove_file(&file).unwrap();
        let db = open_db(dir.path().join(legacy)).await;
        state_machine::write_legacy(&db, &stored).unwrap();
        drop(db);

        let restored = Arc::new(StateStore::default());
        let raft = open(&opts, restored.clone()).await;
        wait_leader(&raft).await;
        raft.read_barrier().await.unwrap();
        assert_eq!(restored.snapshot().jobs().count(), 30, "from {legacy}");
        raft.shutdown().await;
        drop(raft);
        // The moved snapshot left redb: snapshot.db is gone, the log's file has no copy.
        assert!(file.exists(), "from {legacy}");
        assert!(!dir.path().join("snapshot.db").exists());
        let log_db = open_db(dir.path().join("raft.db")).await;
        assert!(state_machine::read_legacy(&log_db).unwrap().is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_purge_is_carried_out_in_chunks_while_writes_go_on() {
    // Scenario: a snapshot after 600 entries lets about 590 be purged, more than one of the
    // flusher's chunks; writes keep landing meanwhile, and in the end redb holds nothing below
    // the recorded start of the log.
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path(), 600, 10);
    let (raft, state) = leader_with_jobs(&opts, 620).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut extra = 0;
    loop {
        raft.apply(register(&format!("late{extra}"))).await.unwrap();
        extra += 1;
        if purged_and_deleted(&raft).await.is_some_and(|p| p > 500) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "purge not carried out"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(state.snapshot().jobs().count(), 620 + extra);
    raft.shutdown().await;
}
