//! Scenario: Nomad's own tooling works against our API: the `python-nomad` client from PyPI lists,
//! registers, reads and deregisters jobs and reads allocations, evaluations, nodes, the leader,
//! peers and members (e2e/python/test_python_nomad.py).

use e2e::*;
use std::process::Command;
use std::time::Duration;

#[test]
fn python_nomad_client_drives_the_api() {
    let have = Command::new("python3")
        .args(["-c", "import nomad"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        have,
        "python-nomad is not installed: pip install python-nomad (scripts/test installs it)"
    );
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::dev(dir.path()).unwrap();
    let marker = format!("{}", 8_000_000 + std::process::id());
    // A job as `nomadctl job run -output` prints it, for the script to register.
    let hcl = dir.path().join("printed.nomad.hcl");
    std::fs::write(
        &hcl,
        "job \"py-printed\" {\n  datacenters = [\"dc1\"]\n  type = \"batch\"\n  group \"g\" {\n    task \"t\" {\n      driver = \"raw_exec\"\n      config {\n        command = \"/bin/true\"\n      }\n    }\n  }\n}\n",
    )
    .unwrap();
    let printed = agent.ctl(&["job", "run", "-output", hcl.to_str().unwrap()]);
    assert!(printed.status.success(), "{}", stderr(&printed));
    let printed_path = dir.path().join("printed.json");
    std::fs::write(&printed_path, stdout(&printed)).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/test_python_nomad.py");
    let out = Command::new("python3")
        .args([
            script,
            &agent.http_port.to_string(),
            &marker,
            printed_path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&out), stderr(&out));
    // The purge stops the task; make sure nothing is left even if the script failed midway.
    let _ = wait_for(
        "the python job's task to stop",
        Duration::from_secs(20),
        || {
            processes_with(&format!("sleep {marker}"))
                .is_empty()
                .then_some(())
        },
    );
    kill_processes_with(&format!("sleep {marker}"));
    assert!(out.status.success(), "{text}\n{}", agent.log());
    assert!(text.contains(" passed, 0 failed"), "{text}");
}
