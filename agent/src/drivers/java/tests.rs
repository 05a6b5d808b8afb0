//! The java driver with the real JDK: a class compiled with javac at test time, packed as a jar.

use super::*;
use nix::sys::stat::Mode;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const HELLO: &str = r#"
public class Hello {
    public static void main(String[] args) {
        System.out.println("user=" + System.getProperty("user.name"));
        System.out.println("maxheap=" + (Runtime.getRuntime().maxMemory() >> 20));
        System.out.println("args=" + String.join(",", args));
        System.out.println("cwd=" + System.getProperty("user.dir"));
        System.out.println("hostroot=" + new java.io.File("/alloc").isDirectory());
        System.out.println("pid=" + ProcessHandle.current().pid());
    }
}
"#;

/// Compiles Hello.java into `dir` and packs `hello.jar` with Main-Class Hello.
fn build_jar(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("Hello.java"), HELLO).unwrap();
    let ok = std::process::Command::new("javac")
        .arg("Hello.java")
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(ok.success(), "javac failed");
    let ok = std::process::Command::new("jar")
        .args(["cfe", "hello.jar", "Hello", "Hello.class"])
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(ok.success(), "jar failed");
    dir.join("hello.jar")
}

/// An allocation laid out as the client does it, under `dir` as the data dir. `dir` is made
/// 0700 root: `nobody` cannot enter it, and the task must run anyway.
fn task(dir: &Path, config: serde_json::Value, memory_mb: i64) -> TaskConfig {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let alloc_dir = dir.join("alloc");
    let task_dir = dir.join("hello");
    for d in ["alloc/logs", "hello/local", "hello/secrets", "hello/tmp"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    let out = alloc_dir.join("logs/.hello.stdout.fifo");
    let err = alloc_dir.join("logs/.hello.stderr.fifo");
    for p in [&out, &err] {
        nix::unistd::mkfifo(p, Mode::S_IRUSR | Mode::S_IWUSR).unwrap();
    }
    let serde_json::Value::Object(m) = config else {
        panic!("config must be an object")
    };
    TaskConfig {
        alloc_id: format!("test-{}", uuid::Uuid::new_v4()),
        task_name: "hello".into(),
        config: m.into_iter().collect(),
        task_dir,
        alloc_dir,
        stdout_path: out,
        stderr_path: err,
        memory_mb,
        cpu_mhz: 100,
        ..Default::default()
    }
}

/// Everything the task wrote to stdout once it exited.
async fn run_to_end(driver: &JavaDriver, tc: &TaskConfig) -> (ExitResult, String) {
    let mut fifo = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&tc.stdout_path)
        .unwrap();
    let handle = driver.start(tc).await.unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(60), handle.wait())
        .await
        .expect("the JVM never exited");
    nix::fcntl::fcntl(
        &fifo,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .unwrap();
    let mut buf = vec![0u8; 65536];
    let n = fifo.read(&mut buf).unwrap_or(0);
    (exit, String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// Panics with what to install when no JDK is found.
fn require_java() {
    assert!(
        JavaDriver::new(&DriverSettings::default())
            .fingerprint()
            .detected,
        "the java driver's tests need a JDK: apt-get install openjdk-17-jdk-headless"
    );
}

#[test]
fn fingerprint_reports_the_jdk_version() {
    require_java();
    let info = JavaDriver::new(&DriverSettings::default()).fingerprint();
    assert!(info.healthy);
    let v = &info.attributes["driver.java.version"];
    assert!(v.chars().next().is_some_and(|c| c.is_ascii_digit()), "{v}");
    assert_eq!(info.attributes["driver.java"], "1");
}

#[test]
fn parses_java_version_output() {
    let v = parse_version(
        "openjdk version \"17.0.15\" 2025-04-15\nOpenJDK Runtime Environment (build 17.0.15+6)\nOpenJDK 64-Bit Server VM (build 17.0.15+6, mixed mode)\n",
    )
    .unwrap();
    assert_eq!(v.version, "17.0.15");
    assert!(v.runtime.starts_with("OpenJDK Runtime"));
    assert!(v.vm.contains("Server VM"));
    assert_eq!(parse_version("garbage"), None);
}

#[test]
fn memory_becomes_xmx_unless_the_task_sets_one() {
    let cfg = |opts: &[&str]| JavaTaskConfig {
        jar_path: Some("app.jar".into()),
        jvm_options: opts.iter().map(|s| s.to_string()).collect(),
        args: vec!["a".into()],
        ..Default::default()
    };
    assert_eq!(
        cfg(&[]).java_args(256),
        ["-Xmx192m", "-jar", "app.jar", "a"]
    );
    assert_eq!(
        cfg(&["-Xmx64m", "-Dx=y"]).java_args(256),
        ["-Xmx64m", "-Dx=y", "-jar", "app.jar", "a"]
    );
    let class = JavaTaskConfig {
        class: Some("com.example.Main".into()),
        class_path: Some("lib/a.jar:classes".into()),
        ..Default::default()
    };
    assert_eq!(
        class.java_args(0),
        ["-cp", "lib/a.jar:classes", "com.example.Main"]
    );
}

#[test]
fn bad_config_names_the_problem() {
    let err = |v: serde_json::Value| {
        let serde_json::Value::Object(m) = v else {
            unreachable!()
        };
        JavaTaskConfig::parse(&m.into_iter().collect())
            .unwrap_err()
            .to_string()
    };
    assert!(err(serde_json::json!({})).contains("jar_path"));
    assert!(err(serde_json::json!({"jar": "x"})).contains("unknown option \"jar\""));
    assert!(err(serde_json::json!({"jar_path": 3})).contains("\"jar_path\""));
}

#[tokio::test]
async fn a_jar_runs_as_nobody_in_its_chroot_under_a_closed_data_dir() {
    // Scenario: the data dir is a 0700 directory of root. A jar compiled now runs anyway, as
    // the default user nobody, with its args, chrooted in its task directory (it sees /alloc
    // at the root and is pid 1 of its own namespace), and with 3/4 of its 128 MB as heap.
    require_java();
    let dir = tempfile::tempdir().unwrap();
    let tc = task(dir.path(), serde_json::json!({}), 128);
    let jar = build_jar(&tc.task_dir.join("local"));
    let mut tc = tc;
    tc.config = BTreeMap::from([
        (
            "jar_path".to_string(),
            serde_json::json!(jar.strip_prefix(&tc.task_dir).unwrap()),
        ),
        ("args".to_string(), serde_json::json!(["one", "two"])),
    ]);
    let (exit, out) = run_to_end(&JavaDriver::new(&DriverSettings::default()), &tc).await;
    assert!(exit.successful(), "{exit:?}: {out}");
    assert!(out.contains("user=nobody"), "{out}");
    assert!(out.contains("args=one,two"), "{out}");
    let heap: i64 = out
        .lines()
        .find_map(|l| l.strip_prefix("maxheap="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(heap > 48 && heap <= 96, "max heap {heap} MB for -Xmx96m");
    assert!(out.contains("cwd=/\n"), "{out}");
    assert!(out.contains("hostroot=true"), "{out}");
    assert!(out.contains("pid=1\n"), "{out}");
}

#[tokio::test]
async fn a_class_runs_from_its_class_path() {
    require_java();
    let dir = tempfile::tempdir().unwrap();
    let mut tc = task(dir.path(), serde_json::json!({}), 64);
    build_jar(&tc.task_dir.join("local"));
    tc.config = BTreeMap::from([
        ("class".to_string(), serde_json::json!("Hello")),
        ("class_path".to_string(), serde_json::json!("local")),
        ("jvm_options".to_string(), serde_json::json!(["-Xss1m"])),
    ]);
    let (exit, out) = run_to_end(&JavaDriver::new(&DriverSettings::default()), &tc).await;
    assert!(exit.successful(), "{exit:?}: {out}");
    assert!(out.contains("user=nobody"), "{out}");
}

#[tokio::test]
async fn root_is_refused_unless_the_client_allows_it() {
    require_java();
    let dir = tempfile::tempdir().unwrap();
    let mut tc = task(dir.path(), serde_json::json!({"jar_path": "x.jar"}), 64);
    tc.user = "root".into();
    let err = JavaDriver::new(&DriverSettings::default())
        .start(&tc)
        .await
        .unwrap_err();
    assert!(matches!(err, DriverError::Config(_)), "{err}");
    assert!(err.to_string().contains("user.allow_root"), "{err}");
    assert!(!err.recoverable());
}

#[test]
fn a_jdk_installed_or_upgraded_after_the_agent_starts_is_seen() {
    // A stand-in launcher (a shell script printing what `java -version` prints) at a path of the
    // test's own: missing at first, then installed, then upgraded. The version is asked again only
    // when the launcher changed, so a JVM does not start on every fingerprint.
    let dir = tempfile::tempdir().unwrap();
    let java = dir.path().join("java");
    let driver = JavaDriver {
        java: java.display().to_string(),
        ..JavaDriver::new(&DriverSettings::default())
    };
    assert!(driver.version().is_err(), "no launcher yet");
    let install = |v: &str, mtime: u64| {
        std::fs::write(
            &java,
            format!("#!/bin/sh\necho 'openjdk version \"{v}\" 2025-01-01' >&2\necho runtime >&2\necho vm >&2\n"),
        )
        .unwrap();
        std::fs::set_permissions(&java, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let f = std::fs::File::options().write(true).open(&java).unwrap();
        f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime))
            .unwrap();
    };
    install("17.0.1", 1_000);
    assert_eq!(driver.version().unwrap().version, "17.0.1");
    // Same launcher: the cached answer, even though the script now says otherwise.
    std::fs::write(&java, "#!/bin/sh\nexit 1\n").unwrap();
    {
        // Closed before anything runs the file: an open writer makes exec fail (ETXTBSY).
        let f = std::fs::File::options().write(true).open(&java).unwrap();
        f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000))
            .unwrap();
    }
    assert_eq!(driver.version().unwrap().version, "17.0.1");
    // Upgraded: asked again.
    install("21.0.2", 2_000);
    assert_eq!(driver.version().unwrap().version, "21.0.2");
}
