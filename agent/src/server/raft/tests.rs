use super::*;
use api::{Job, Task, TaskGroup};

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

async fn wait_closed(dir: &Path) {
    // The writer task owns the database; wait until a reopen succeeds.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while LogStore::open(&dir.join("raft.db")).is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "log store never released"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn restart_replays_the_log_and_keeps_every_write() {
    // Scenario: 20 concurrent registrations commit (in batches), the raft is dropped, and a new one
    // on the same dir restores the same state, including job versions.
    let dir = tempfile::tempdir().unwrap();
    let state = Arc::new(StateStore::default());
    let raft = Arc::new(Raft::open(dir.path(), state.clone(), "a:1".into()).unwrap());
    let mut handles = Vec::new();
    for i in 0..20 {
        let r = raft.clone();
        handles.push(tokio::spawn(async move {
            r.apply(register(&format!("j{}", i % 10))).await
        }));
    }
    let mut indexes = Vec::new();
    for h in handles {
        indexes.push(h.await.unwrap().unwrap().0);
    }
    indexes.sort();
    assert_eq!(
        indexes,
        (1..=20).collect::<Vec<u64>>(),
        "every write got its own index"
    );
    drop(raft);
    wait_closed(dir.path()).await;

    let restored = Arc::new(StateStore::default());
    let _raft = Raft::open(dir.path(), restored.clone(), "a:1".into()).unwrap();
    let snap = restored.snapshot();
    assert_eq!(snap.index, 20);
    assert_eq!(snap.jobs().count(), 10);
    assert_eq!(snap.job("default", "j3").unwrap().version, 1);
    assert_eq!(snap.job_versions("default", "j3").len(), 2);
}

#[tokio::test]
async fn snapshots_compact_the_log_and_restore() {
    // Scenario: with a snapshot every 5 entries, 12 writes leave a snapshot and a short log; a
    // restart restores from both.
    let dir = tempfile::tempdir().unwrap();
    let state = Arc::new(StateStore::default());
    let raft = Raft::open_with(dir.path(), state.clone(), "a:1".into(), 5).unwrap();
    for i in 0..12 {
        raft.apply(register(&format!("j{i}"))).await.unwrap();
    }
    drop(raft);
    wait_closed(dir.path()).await;
    let store = LogStore::open(&dir.path().join("raft.db")).unwrap();
    let rec = store.recover().unwrap();
    let snap_index = rec.snapshot.as_ref().map(|s| s.index).unwrap_or(0);
    assert!(snap_index >= 10, "snapshot at {snap_index}");
    assert!(
        rec.entries.len() <= 2,
        "log compacted to {} entries",
        rec.entries.len()
    );
    drop(store);

    let restored = Arc::new(StateStore::default());
    let _raft = Raft::open(dir.path(), restored.clone(), "a:1".into()).unwrap();
    assert_eq!(restored.snapshot().jobs().count(), 12);
    assert_eq!(restored.index(), 12);
}
