//! The web UI at /ui/ in a real browser: headless Chromium driven by Selenium
//! (e2e/ui/test_web_ui.py) against a real dev agent. Screenshots of each page, at desktop and
//! phone widths, go to target/tmp/ui-screenshots (not committed).

use e2e::*;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/ui/test_web_ui.py");
const LIMIT: Duration = Duration::from_secs(300);

fn require_browser() {
    let selenium = Command::new("python3")
        .args(["-c", "import selenium"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        selenium,
        "selenium is not installed: pip install selenium (scripts/test installs it)"
    );
    for bin in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        assert!(
            Path::new(bin).exists(),
            "{bin} is missing: apt-get install chromium chromium-driver (scripts/test installs them)"
        );
    }
}

fn shots_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Kills the tasks the agent started, even when the test fails.
struct Reap(PathBuf);

impl Drop for Reap {
    fn drop(&mut self) {
        kill_processes_under(&self.0);
    }
}

#[test]
fn the_lab_walkthrough_works_from_the_browser() {
    // Scenario: a new user opens /ui/, pastes a broken job (file:line:col shown, nothing
    // registered), plans and runs the example job with its check index, watches its allocation
    // reach running on the job page without a reload, has a stale check index refused, reads a
    // log line the task printed after the allocation page opened, sees the servers and
    // services, sees the unreachable banner while the agent restarts and the page recover,
    // and drains the node from its page.
    require_browser();
    let dir = tempfile::tempdir().unwrap();
    let _reap = Reap(dir.path().to_path_buf());
    let mut agent = Agent::dev(dir.path()).unwrap();
    let mut child = Command::new("python3")
        .args([SCRIPT, "walkthrough", &agent.address()])
        .arg(shots_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let started = Instant::now();
    let mut seen = Vec::new();
    for line in stdout.lines() {
        let line = line.unwrap_or_default();
        seen.push(line.clone());
        match line.as_str() {
            "RESTART-AGENT" => agent.kill(),
            "BANNER-SEEN" => {
                agent.start().unwrap();
                writeln!(stdin, "restarted").unwrap();
            }
            _ => {}
        }
        assert!(
            started.elapsed() < LIMIT,
            "the browser test ran past {LIMIT:?}"
        );
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && seen.iter().any(|l| l == "walkthrough passed"),
        "{}\n{err}\n{}",
        seen.join("\n"),
        agent.log()
    );
}

#[test]
fn a_canary_deployment_is_promoted_and_another_failed_from_the_job_page() {
    // Scenario: a job with one canary per update. Version 2's deployment waits for promotion;
    // the job page's Promote button completes it. Version 3's deployment is failed with the
    // Fail button after its confirmation. Both outcomes show on the page without a reload.
    require_browser();
    let dir = tempfile::tempdir().unwrap();
    let _reap = Reap(dir.path().to_path_buf());
    let agent = Agent::dev(dir.path()).unwrap();
    let out = Command::new("python3")
        .args([SCRIPT, "rollout", &agent.address()])
        .arg(shots_dir())
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        out.status.success() && text.contains("rollout passed"),
        "{text}\n{}",
        agent.log()
    );
}

#[test]
fn pages_say_not_allowed_until_a_token_is_set() {
    // Scenario: with ACLs on, the jobs page says "Not allowed" to the anonymous token; the
    // management token typed into the token box is kept in local storage, sent as
    // X-Nomad-Token, and the page shows the jobs, also after a reload.
    require_browser();
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::dev_acl(dir.path()).unwrap();
    let token = agent.token.clone().unwrap();
    let out = Command::new("python3")
        .args([SCRIPT, "acl", &agent.address()])
        .arg(shots_dir())
        .arg(&token)
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        out.status.success() && text.contains("acl passed"),
        "{text}"
    );
}
