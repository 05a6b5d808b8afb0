//! Fetching artifacts from a real loopback HTTP server and from local files into a task directory.

use super::test_server::TestServer;
use super::*;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;

fn sha256(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(20),
    }
}

fn artifact(source: &str, dest: &str, mode: &str, checksum: Option<&str>) -> Artifact {
    Artifact {
        getter_source: source.to_string(),
        getter_options: checksum
            .map(|c| BTreeMap::from([("checksum".to_string(), c.to_string())]))
            .unwrap_or_default(),
        getter_mode: mode.to_string(),
        relative_dest: dest.to_string(),
    }
}

fn fetch(task_dir: &Path, a: &Artifact) -> Result<(), ArtifactError> {
    fetch_one(task_dir, a, &quick_retry(), &AtomicBool::new(false), true)
}

/// A jar is a zip with a manifest; its name does not make it an archive to unpack.
fn jar_bytes() -> Vec<u8> {
    zip_bytes(&[(
        "META-INF/MANIFEST.MF",
        b"Manifest-Version: 1.0\r\nMain-Class: Hello\r\n\r\n".as_slice(),
    )])
}

fn zip_bytes(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, body) in files {
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(0o644);
        w.start_file(*name, opts).unwrap();
        w.write_all(body).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn tar_gz_bytes(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut b = tar::Builder::new(gz);
    for (name, body, mode) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(*mode);
        h.set_cksum();
        b.append_data(&mut h, name, *body).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

fn staging_left(task_dir: &Path) -> Vec<String> {
    fs::read_dir(task_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(STAGING_PREFIX))
        .collect()
}

#[test]
fn http_source_with_sha256_checksum_lands_under_its_name() {
    let server = TestServer::start();
    let jar = jar_bytes();
    server.put("/dl/app.jar", &jar, 0);
    let task = tempfile::tempdir().unwrap();
    let sum = format!("sha256:{}", sha256(&jar));
    fetch(
        task.path(),
        &artifact(&server.url("/dl/app.jar"), "", "", Some(&sum)),
    )
    .unwrap();
    assert_eq!(fs::read(task.path().join("local/app.jar")).unwrap(), jar);
    assert!(staging_left(task.path()).is_empty());
}

#[test]
fn checksum_mismatch_names_both_sums_and_leaves_nothing() {
    let server = TestServer::start();
    let jar = jar_bytes();
    server.put("/app.jar", &jar, 0);
    let task = tempfile::tempdir().unwrap();
    let wrong = "0".repeat(64);
    let err = fetch(
        task.path(),
        &artifact(
            &server.url("/app.jar"),
            "local/",
            "",
            Some(&format!("sha256:{wrong}")),
        ),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, ArtifactError::ChecksumMismatch { .. }),
        "{msg}"
    );
    assert!(msg.contains(&format!("expected sha256:{wrong}")), "{msg}");
    assert!(
        msg.contains(&format!("got sha256:{}", sha256(&jar))),
        "{msg}"
    );
    assert!(!task.path().join("local/app.jar").exists());
    assert!(staging_left(task.path()).is_empty());
    // A mismatch is not transient: one request only.
    assert_eq!(server.hits("/app.jar"), 1);
}

#[test]
fn tar_gz_and_zip_are_unpacked_into_the_destination() {
    let server = TestServer::start();
    let tgz = tar_gz_bytes(&[
        ("bin/run.sh", b"#!/bin/sh\necho run\n", 0o755),
        ("conf/app.conf", b"port = 8080\n", 0o644),
    ]);
    let zip = zip_bytes(&[("z/b.txt", b"from zip")]);
    server.put("/bundle.tar.gz", &tgz, 0);
    server.put("/more.zip", &zip, 0);
    let task = tempfile::tempdir().unwrap();
    let sum = format!("sha256:{}", sha256(&tgz));
    fetch(
        task.path(),
        &artifact(&server.url("/bundle.tar.gz"), "local/app", "", Some(&sum)),
    )
    .unwrap();
    fetch(
        task.path(),
        &artifact(&server.url("/more.zip"), "", "any", None),
    )
    .unwrap();

    let app = task.path().join("local/app");
    assert_eq!(
        fs::read(app.join("conf/app.conf")).unwrap(),
        b"port = 8080\n"
    );
    let mode = fs::metadata(app.join("bin/run.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    assert!(
        !app.join("bundle.tar.gz").exists(),
        "the archive itself is not kept"
    );
    assert_eq!(
        fs::read(task.path().join("local/z/b.txt")).unwrap(),
        b"from zip"
    );
    assert!(staging_left(task.path()).is_empty());
}

#[test]
fn mode_file_keeps_the_archive_as_a_file() {
    let server = TestServer::start();
    let tgz = tar_gz_bytes(&[("a.txt", b"a", 0o644)]);
    server.put("/bundle.tar.gz", &tgz, 0);
    let task = tempfile::tempdir().unwrap();
    fetch(
        task.path(),
        &artifact(
            &server.url("/bundle.tar.gz"),
            "local/kept.tgz",
            "file",
            None,
        ),
    )
    .unwrap();
    assert_eq!(fs::read(task.path().join("local/kept.tgz")).unwrap(), tgz);
    assert!(!task.path().join("local/a.txt").exists());
}

#[test]
fn local_file_source_is_copied_and_checked() {
    let src_dir = tempfile::tempdir().unwrap();
    let script = src_dir.path().join("tool.sh");
    fs::write(&script, b"#!/bin/sh\necho tool\n").unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o750)).unwrap();
    let sum = format!("sha256:{}", sha256(b"#!/bin/sh\necho tool\n"));
    let task = tempfile::tempdir().unwrap();

    let path = script.display().to_string();
    fetch(task.path(), &artifact(&path, "local/bin", "", Some(&sum))).unwrap();
    let got = task.path().join("local/bin/tool.sh");
    assert_eq!(fs::read(&got).unwrap(), b"#!/bin/sh\necho tool\n");
    assert_eq!(
        fs::metadata(&got).unwrap().permissions().mode() & 0o777,
        0o750
    );

    let url = format!("file://{path}");
    fetch(task.path(), &artifact(&url, "local/again/", "", None)).unwrap();
    assert!(task.path().join("local/again/tool.sh").is_file());

    let missing = format!("{}/nope.bin", src_dir.path().display());
    let err = fetch(task.path(), &artifact(&missing, "", "", None)).unwrap_err();
    assert!(err.to_string().contains("nope.bin"), "{err}");
}

#[test]
fn the_clients_own_files_are_refused_unless_the_client_allows_them() {
    let host = tempfile::tempdir().unwrap();
    let secret = host.path().join("secret.txt");
    fs::write(&secret, b"host only").unwrap();
    let task = tempfile::tempdir().unwrap();
    let refuse = |source: &str| {
        fetch_one(
            task.path(),
            &artifact(source, "local/", "file", None),
            &quick_retry(),
            &AtomicBool::new(false),
            false,
        )
    };
    for source in [
        secret.display().to_string(),
        format!("file://{}", secret.display()),
        "../../../etc/hostname".to_string(),
    ] {
        let err = refuse(&source).unwrap_err().to_string();
        assert!(err.contains("artifact.allow_local"), "{source}: {err}");
    }
    assert!(!task.path().join("local/secret.txt").exists());
    // A file already inside the task's directory is the task's own.
    fs::create_dir_all(task.path().join("local")).unwrap();
    fs::write(task.path().join("local/own.txt"), b"mine").unwrap();
    fetch_one(
        task.path(),
        &artifact("local/own.txt", "local/copy.txt", "file", None),
        &quick_retry(),
        &AtomicBool::new(false),
        false,
    )
    .unwrap();
    assert_eq!(
        fs::read(task.path().join("local/copy.txt")).unwrap(),
        b"mine"
    );
}

#[test]
fn transient_503_is_retried_and_404_is_not() {
    let server = TestServer::start();
    server.put("/flaky.txt", b"eventually", 2);
    let task = tempfile::tempdir().unwrap();
    fetch(
        task.path(),
        &artifact(&server.url("/flaky.txt"), "", "", None),
    )
    .unwrap();
    assert_eq!(
        fs::read(task.path().join("local/flaky.txt")).unwrap(),
        b"eventually"
    );
    assert_eq!(server.hits("/flaky.txt"), 3);

    // More failures than attempts: the last status is reported.
    server.put("/down.txt", b"never", 5);
    let err = fetch(
        task.path(),
        &artifact(&server.url("/down.txt"), "", "", None),
    )
    .unwrap_err();
    assert!(err.to_string().contains("503"), "{err}");
    assert_eq!(server.hits("/down.txt"), 3);

    let err = fetch(
        task.path(),
        &artifact(&server.url("/missing"), "", "", None),
    )
    .unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    assert_eq!(server.hits("/missing"), 0, "unknown paths are not counted");
}

#[test]
fn destination_may_not_leave_the_task_dir() {
    let task = tempfile::tempdir().unwrap();
    let err = fetch(
        task.path(),
        &artifact("http://127.0.0.1:1/x.txt", "../../etc", "", None),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("escapes the task directory"),
        "{err}"
    );
}

#[tokio::test]
async fn fetch_all_names_the_failing_source() {
    let server = TestServer::start();
    server.put("/ok.txt", b"ok", 0);
    let task = tempfile::tempdir().unwrap();
    let list = vec![
        artifact(&server.url("/ok.txt"), "", "", None),
        artifact(&server.url("/gone.txt"), "", "", None),
    ];
    let err = fetch_all(task.path().to_path_buf(), list, quick_retry(), true)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("failed to download artifact"), "{err}");
    assert!(err.contains("/gone.txt") && err.contains("404"), "{err}");
    assert!(task.path().join("local/ok.txt").is_file());
}
