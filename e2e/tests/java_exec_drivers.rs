//! Scenarios on the dev agent with the real JDK and the exec driver's namespaces and cgroups:
//! - the seed's hello-java jar, compiled with javac now, is served over loopback and fetched as an
//!   artifact with its sha256; the java task answers on its allocated port and its log is read
//!   through `nomadctl alloc logs`; the same artifact with a wrong checksum fails the task with an
//!   event that names both sums, and the task never starts;
//! - an exec task sees only its own processes and runs as nobody, read through `alloc logs`;
//!   `alloc exec` enters its chroot as its user, with stdin, a terminal and the exit code.

use e2e::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Builds jobs/hello-java/HelloServer.java into `dir/hello-java.jar`.
fn build_jar(dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../jobs/hello-java/HelloServer.java");
    let classes = dir.join("classes");
    let ok = Command::new("javac")
        .arg("-d")
        .arg(&classes)
        .arg(&src)
        .status()
        .expect("javac");
    assert!(ok.success(), "javac failed");
    let jar = dir.join("hello-java.jar");
    let ok = Command::new("jar")
        .arg("cfe")
        .arg(&jar)
        .arg("HelloServer")
        .arg("-C")
        .arg(&classes)
        .arg(".")
        .status()
        .expect("jar");
    assert!(ok.success(), "jar failed");
    jar
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Serves `body` at every path on a loopback port, in a background thread, for the test's life.
fn serve(body: Vec<u8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let mut s = reader.into_inner();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/java-archive\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    port
}

fn java_job(name: &str, url: &str, checksum: &str) -> String {
    format!(
        r#"job "{name}" {{
  datacenters = ["dc1"]
  group "web" {{
    network {{
      port "http" {{}}
    }}
    restart {{
      attempts = 1
      delay    = "1s"
      interval = "1m"
      mode     = "fail"
    }}
    task "server" {{
      driver = "java"
      artifact {{
        source      = "{url}"
        destination = "local/"
        mode        = "file"
        options {{
          checksum = "sha256:{checksum}"
        }}
      }}
      config {{
        jar_path = "local/hello-java.jar"
        args     = ["v1"]
      }}
      kill_timeout = "2s"
      resources {{
        cpu    = 200
        memory = 128
      }}
    }}
  }}
}}
"#
    )
}

fn first_alloc(agent: &Agent, job: &str) -> Option<serde_json::Value> {
    let list = agent.get(&format!("/v1/job/{job}/allocations")).ok()?;
    let id = list.as_array()?.first()?["ID"].as_str()?.to_string();
    agent.get(&format!("/v1/allocation/{id}")).ok()
}

fn http_port(alloc: &serde_json::Value) -> Option<u16> {
    alloc["AllocatedResources"]["Shared"]["Ports"]
        .as_array()?
        .iter()
        .find(|p| p["Label"] == "http")?["Value"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
}

fn get(port: u16) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

/// Panics with what to install when no JDK (javac, jar, java) is found.
fn require_java() {
    let ok = Command::new("javac")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "these tests need a JDK (javac, jar, java): apt-get install openjdk-17-jdk-headless"
    );
}

/// A dev agent whose directories the `nobody` user can traverse (tasks run as nobody).
fn agent(dir: &Path) -> Agent {
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    Agent::dev(dir).unwrap()
}

#[test]
fn hello_java_jar_artifact_with_checksum_serves_and_a_wrong_checksum_fails() {
    require_java();
    let dir = tempfile::tempdir().unwrap();
    let build = tempfile::tempdir().unwrap();
    let jar = build_jar(build.path());
    let sum = sha256(&jar);
    let port = serve(std::fs::read(&jar).unwrap());
    let url = format!("http://127.0.0.1:{port}/hello-java.jar");
    let mut agent = agent(dir.path());

    let file = dir.path().join("hello-java.nomad.hcl");
    std::fs::write(&file, java_job("hello-java", &url, &sum)).unwrap();
    let out = agent.ctl(&["job", "run", "-detach", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (alloc, answer) = wait_for("hello-java to answer", Duration::from_secs(90), || {
        let alloc = first_alloc(&agent, "hello-java")?;
        let body = get(http_port(&alloc)?)?;
        body.contains("hello from java v1").then_some((alloc, body))
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    let id = alloc["ID"].as_str().unwrap().to_string();
    assert!(answer.contains(&id), "{answer}");
    let events: Vec<String> = alloc["TaskStates"]["server"]["Events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Type"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        events.contains(&"Downloading Artifacts".to_string()),
        "{events:?}"
    );
    let logs = wait_for("the java task's log", Duration::from_secs(30), || {
        let out = agent.ctl(&["alloc", "logs", &id[..8], "server"]);
        let text = stdout(&out);
        text.contains("listening on").then_some(text)
    });
    assert!(logs.is_ok(), "{logs:?}");

    // The same jar under a wrong checksum: the download fails, the task never starts.
    let wrong = "0".repeat(64);
    let file = dir.path().join("bad-java.nomad.hcl");
    std::fs::write(&file, java_job("bad-java", &url, &wrong)).unwrap();
    let out = agent.ctl(&["job", "run", "-detach", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let message = wait_for("the failed download event", Duration::from_secs(60), || {
        let alloc = first_alloc(&agent, "bad-java")?;
        let events = alloc["TaskStates"]["server"]["Events"].as_array()?.clone();
        events
            .iter()
            .find(|e| e["Type"] == "Failed Artifact Download")
            .map(|e| {
                e["DisplayMessage"].as_str().unwrap_or_default().to_string()
                    + " "
                    + e["Message"].as_str().unwrap_or_default()
            })
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    assert!(message.contains("checksum"), "{message}");
    assert!(
        message.contains(&wrong) && message.contains(&sum),
        "{message}"
    );
    let alloc = first_alloc(&agent, "bad-java").unwrap();
    assert_eq!(
        alloc["TaskStates"]["server"]["StartedAt"]
            .as_str()
            .unwrap_or(""),
        "",
        "the task started despite the failed download: {alloc:#}"
    );

    for job in ["hello-java", "bad-java"] {
        let _ = agent.ctl(&["job", "stop", job]);
    }
    agent.stop().unwrap();
}

#[test]
fn exec_task_sees_only_itself_and_runs_as_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = agent(dir.path());
    let node = agent.get("/v1/nodes").unwrap();
    let exec_ok = node
        .as_array()
        .and_then(|n| n.first().cloned())
        .and_then(|n| agent.get(&format!("/v1/node/{}", n["ID"].as_str()?)).ok())
        .is_some_and(|n| n["Drivers"]["exec"]["Healthy"] == true);
    assert!(
        exec_ok,
        "the exec driver is not healthy here: run as root on Linux with namespaces and cgroup v2\n{}",
        agent.log()
    );
    let file = dir.path().join("exec.nomad.hcl");
    std::fs::write(
        &file,
        r#"job "isolated" {
  datacenters = ["dc1"]
  group "g" {
    task "probe" {
      driver = "exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo uid=$(id -u) procs=$(ls /proc | grep -c '^[0-9]'); exec sleep 300"]
      }
      kill_timeout = "1s"
      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
"#,
    )
    .unwrap();
    let out = agent.ctl(&["job", "run", "-detach", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = wait_for("the exec task's output", Duration::from_secs(60), || {
        let id = first_alloc(&agent, "isolated")?["ID"].as_str()?.to_string();
        let out = agent.ctl(&["alloc", "logs", &id[..8], "probe"]);
        let text = stdout(&out);
        text.contains("uid=").then_some(text)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    assert!(text.contains("uid=65534"), "{text}");
    let procs: u32 = text
        .split("procs=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(u32::MAX);
    assert!(procs <= 4, "the task sees {procs} processes: {text}");

    // `alloc exec` enters the task: its chroot (the task directory is the root) and its user.
    let alloc = first_alloc(&agent, "isolated").unwrap()["ID"]
        .as_str()
        .unwrap()
        .to_string();
    let addr = format!("127.0.0.1:{}", agent.http_port);
    let r = e2e::exec_ws::exec(
        &addr,
        &alloc,
        "probe",
        &[
            "/bin/sh",
            "-c",
            "read x; echo uid=$(id -u) x=$x; ls /; exit 5",
        ],
        false,
        None,
        b"in\n",
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    assert_eq!(r.exit_code, 5, "{r:?}");
    assert!(r.stdout.contains("uid=65534 x=in"), "{r:?}");
    assert!(
        r.stdout.lines().any(|l| l == "local"),
        "the task's root: {r:?}"
    );
    let r = e2e::exec_ws::exec(
        &addr,
        &alloc,
        "probe",
        &["/bin/sh", "-c", "read x; stty size"],
        true,
        Some((31, 97)),
        b"go\n",
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    assert!(r.stdout.contains("31 97"), "{r:?}");
    let out = agent.ctl(&["job", "stop", "isolated"]);
    assert!(out.status.success(), "{}", stderr(&out));
    agent.stop().unwrap();
}
