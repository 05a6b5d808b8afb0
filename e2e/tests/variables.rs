//! Nomad Variables end to end: encrypted at rest across a real three-server cluster, ordered by
//! check-and-set under racing writers, scoped by ACL path rules, locked as leases, and driven
//! through `nomadctl var`.

use e2e::cluster::{send, Cluster, Reply};
use e2e::*;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(60);
/// A value no other part of the system would ever write: the grep below looks for it.
const SECRET: &str = "hunter2-plaintext-marker-7f3a9c";

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
            {
                found.push(p.display().to_string());
            }
        }
    }
    found
}

fn put(base: &str, path: &str, query: &str, body: &Value) -> Reply {
    send(
        "PUT",
        &format!("{base}/v1/var/{path}{query}"),
        Some(&body.to_string()),
    )
    .unwrap()
}

#[test]
fn variables_are_sealed_replicated_and_ordered_by_check_and_set() {
    // Scenario: three servers that snapshot often. A variable written through a follower
    // reads back through any server. Two writers race with the same check-and-set index: one
    // wins, the other gets 409 with the winner's value. No raft log, snapshot or other file
    // of any server holds an item in plain text, though the path is there in the clear. Each
    // server holds the key, replicated outside the log; with the leader killed, the next
    // leader opens the variables.
    let mut cluster =
        Cluster::start(3, "raft_snapshot_threshold = 8\nraft_trailing_logs = 4").unwrap();
    let leader = cluster.wait_leader(SETTLE).unwrap();
    let follower = cluster.follower_of(leader).unwrap();
    let base = cluster.address(follower);

    let r = put(
        &base,
        "app/db",
        "?cas=0",
        &json!({"Items": {"password": SECRET, "user": "app"}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let created: Value = r.json().unwrap();
    let index = created["ModifyIndex"].as_u64().unwrap();
    assert_eq!(created["Items"]["password"], SECRET);
    assert_eq!(created["CreateIndex"], created["ModifyIndex"]);
    let r = put(&base, "app/db", "?cas=0", &json!({"Items": {"x": "y"}}));
    assert_eq!(r.status, 409, "cas=0 only creates: {}", r.body);

    // Two writers, both holding `index`.
    let writers: Vec<_> = (0..2)
        .map(|i| {
            let addr = cluster.address(i);
            std::thread::spawn(move || {
                let body = json!({"Items": {"password": format!("writer-{i}")}});
                put(&addr, "app/db", &format!("?cas={index}"), &body)
            })
        })
        .collect();
    let replies: Vec<Reply> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let mut statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [200, 409],
        "{:?}",
        replies.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    let winner: Value = replies
        .iter()
        .find(|r| r.status == 200)
        .unwrap()
        .json()
        .unwrap();
    let loser: Value = replies
        .iter()
        .find(|r| r.status == 409)
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(loser["Items"], winner["Items"], "the 409 shows what won");
    assert_eq!(loser["ModifyIndex"], winner["ModifyIndex"]);

    // Enough writes for every server to snapshot.
    for i in 0..12 {
        let r = put(
            &base,
            &format!("filler/{i}"),
            "",
            &json!({"Items": {"n": format!("{i}-{SECRET}")}}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    for i in 0..3 {
        let data = cluster.servers[i].data_dir.clone();
        wait_for("a raft snapshot on every server", SETTLE, || {
            (!files_containing(&data, b"filler/11").is_empty()).then_some(())
        })
        .unwrap();
        let leaks = files_containing(&data, SECRET.as_bytes());
        assert!(leaks.is_empty(), "plain text items in {leaks:?}");
        assert!(
            !files_containing(&data, b"app/db").is_empty(),
            "the path is stored in the clear, so the grep can see"
        );
        let keys = wait_for("the keyring key on every server", SETTLE, || {
            let dir = std::fs::read_dir(data.join("server").join("keystore")).ok()?;
            let keys: Vec<_> = dir
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "key"))
                .collect();
            (!keys.is_empty()).then_some(keys)
        })
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            keys[0].metadata().unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    // Stale reads answer from each server's own state and key.
    for i in 0..3 {
        let r = send(
            "GET",
            &format!("{}/v1/var/app/db?stale", cluster.address(i)),
            None,
        )
        .unwrap();
        assert_eq!(r.status, 200, "server {i}: {}", r.body);
        assert_eq!(r.json().unwrap()["Items"], winner["Items"]);
    }
    cluster.kill(leader);
    let next = wait_for("a new leader", SETTLE, || {
        let l = cluster.wait_leader(Duration::from_secs(5)).ok()?;
        (l != leader).then_some(l)
    })
    .unwrap();
    let r = send(
        "GET",
        &format!("{}/v1/var/app/db", cluster.address(next)),
        None,
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json().unwrap()["Items"], winner["Items"]);
    let list = send(
        "GET",
        &format!("{}/v1/vars?prefix=filler/", cluster.address(next)),
        None,
    )
    .unwrap();
    let list: Value = list.json().unwrap();
    assert_eq!(list.as_array().unwrap().len(), 12);
    assert!(
        list[0].get("Items").is_none(),
        "a listing never carries items"
    );
}

const APP_POLICY: &str = r#"
namespace "default" {
  policy = "read"
  variables {
    path "project/*" { capabilities = ["write", "read", "destroy"] }
    path "drop/*" { capabilities = ["write"] }
  }
}
"#;

#[test]
fn nomadctl_var_verbs_acl_paths_and_bad_input() {
    // Scenario: a dev agent with ACLs. The management token writes and reads variables with
    // `nomadctl var`: put (items, @file, a spec), get (table, -item, json, a Go template), list,
    // a stale -check-index refused with exit 1, purge. A token whose policy grants
    // `project/*` reads and writes there, is refused elsewhere (403), lists only what it may,
    // and sees a conflict's items only where it may read. Bad bodies, unknown paths and wrong
    // methods get 400, 404 and 405 with messages.
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::dev_acl(dir.path()).unwrap();
    let base = agent.address();
    let admin = agent.token.clone().unwrap();

    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, "-----BEGIN CERT-----\n").unwrap();
    let out = agent.ctl(&[
        "var",
        "put",
        "project/web",
        "user=web",
        &format!("cert=@{}", cert.display()),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("{"),
        "redirected output defaults to JSON: {}",
        stdout(&out)
    );
    // A put replaces every item, as in Nomad.
    let cert_item = format!("cert=@{}", cert.display());
    let out = agent.ctl(&[
        "var",
        "put",
        "-out",
        "none",
        "project/web",
        "user=web2",
        &cert_item,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("Updated variable \"project/web\" with modify index"),
        "{}",
        stdout(&out)
    );
    let out = agent.ctl(&["var", "get", "-item", "cert", "project/web"]);
    assert_eq!(stdout(&out), "-----BEGIN CERT-----\n");
    let out = agent.ctl(&["var", "get", "-out", "table", "project/web"]);
    let table = stdout(&out);
    assert!(
        table.starts_with("Namespace   = default\nPath        = project/web\n"),
        "{table}"
    );
    assert!(
        table.contains("\nItems\n") && table.contains("user = web2"),
        "{table}"
    );
    let out = agent.ctl(&[
        "var",
        "get",
        "-template",
        "{{.Path}}:{{range $k, $v := .Items}}{{$k}},{{end}}",
        "project/web",
    ]);
    assert_eq!(stdout(&out), "project/web:cert,user,", "{}", stderr(&out));
    let get: Value =
        serde_json::from_str(&stdout(&agent.ctl(&["var", "get", "project/web"]))).unwrap();
    let index = get["ModifyIndex"].as_u64().unwrap();

    let spec = dir.path().join("spec.hcl");
    std::fs::write(&spec, "path = \"system/tls\"\nitems {\n  key = \"k1\"\n}\n").unwrap();
    let out = agent.ctl(&["var", "put", &format!("@{}", spec.display())]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = agent.ctl(&[
        "var",
        "put",
        "-check-index",
        &(index - 1).to_string(),
        "project/web",
        "user=stale",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Check-and-Set conflict"),
        "{}",
        stderr(&out)
    );
    let out = agent.ctl(&["var", "list", "-out", "table"]);
    let list = stdout(&out);
    assert!(list.starts_with("Namespace"), "{list}");
    assert!(
        list.contains("project/web") && list.contains("system/tls"),
        "{list}"
    );

    // A scoped token.
    let policy = dir.path().join("app.hcl");
    std::fs::write(&policy, APP_POLICY).unwrap();
    let out = agent.ctl(&["acl", "policy", "apply", "app", policy.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = agent.ctl(&[
        "acl",
        "token",
        "create",
        "-name",
        "app",
        "-policy",
        "app",
        "-t",
        "{{.SecretID}}",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let app = stdout(&out);
    assert_eq!(app.len(), 36, "a template prints the secret alone: {app:?}");
    let as_app = |method: &str, path: &str, body: Option<&str>| {
        request_with(method, &format!("{base}{path}"), body, Some(&app)).unwrap()
    };
    let (s, body) = as_app("GET", "/v1/var/project/web", None);
    assert_eq!(s, 200, "{body}");
    let (s, body) = as_app("GET", "/v1/var/system/tls", None);
    assert_eq!(s, 403, "{body}");
    let (s, _) = as_app("PUT", "/v1/var/system/new", Some(r#"{"Items":{"a":"b"}}"#));
    assert_eq!(s, 403);
    let (s, body) = as_app("GET", "/v1/vars", None);
    assert_eq!(s, 200);
    let paths: Vec<String> = serde_json::from_str::<Value>(&body)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["Path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(paths, ["project/web"], "only what the token may list");
    // Write-only path: a conflict shows metadata, not items.
    let (s, _) = as_app(
        "PUT",
        "/v1/var/drop/box",
        Some(r#"{"Items":{"a":"first"}}"#),
    );
    assert_eq!(s, 200);
    let (s, body) = as_app(
        "PUT",
        "/v1/var/drop/box?cas=0",
        Some(r#"{"Items":{"a":"second"}}"#),
    );
    assert_eq!(s, 409, "{body}");
    let conflict: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(conflict["Path"], "drop/box");
    assert!(
        conflict["Items"].as_object().is_none_or(|m| m.is_empty()),
        "{body}"
    );
    let (s, _) = as_app("DELETE", "/v1/var/drop/box", None);
    assert_eq!(s, 403, "write does not include destroy");

    // Bad input, as the management token.
    let call = |method: &str, path: &str, body: Option<&str>| {
        request_with(method, &format!("{base}{path}"), body, Some(&admin)).unwrap()
    };
    let (s, body) = call("PUT", "/v1/var/project/web", Some("{\"Items\": "));
    assert_eq!(s, 400, "{body}");
    let (s, body) = call("PUT", "/v1/var/project/web", Some(r#"{"Items": {"a": 1}}"#));
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("Items"), "{body}");
    let (s, body) = call("PUT", "/v1/var/bad.path", Some(r#"{"Items": {"a": "1"}}"#));
    assert_eq!(s, 400);
    assert!(body.contains("invalid variable path"), "{body}");
    let (s, body) = call("PUT", "/v1/var/empty", Some(r#"{"Items": {}}"#));
    assert_eq!(s, 400);
    assert!(body.contains("no Items"), "{body}");
    let (s, body) = call("PUT", "/v1/var/x?cas=abc", Some(r#"{"Items": {"a": "1"}}"#));
    assert_eq!(s, 400);
    assert!(body.contains("invalid cas"), "{body}");
    let (s, body) = call("GET", "/v1/var/no/such", None);
    assert_eq!(s, 404, "{body}");
    let (s, body) = call("PUT", "/v1/vars", Some("{}"));
    assert_eq!(s, 405, "{body}");
    assert!(body.contains("Invalid method"), "{body}");
    let out = agent.ctl(&["var", "get", "no/such"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("variable not found"),
        "{}",
        stderr(&out)
    );

    let out = agent.ctl(&["var", "purge", "project/web"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "Successfully purged variable \"project/web\"!\n"
    );
    let (s, _) = call("GET", "/v1/var/project/web", None);
    assert_eq!(s, 404);
}

#[test]
fn locks_hold_lapse_and_serialize_var_lock_children() {
    // Scenario: a dev agent. A lock taken through the API refuses other holders and plain
    // writes (409) until its holder releases it. A lock left without renewal lapses after its
    // TTL, and the variable cannot be locked again during the lock delay. Two `nomadctl var
    // lock` runs on one path never run their children at once: each child records its start
    // and end, and the intervals do not overlap.
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::dev(dir.path()).unwrap();
    let base = agent.address();

    let lock = json!({"Items": {"owner": "a"}, "Lock": {"TTL": "10s", "LockDelay": "10s"}});
    let r = put(&base, "locks/a", "?lock-acquire", &lock);
    assert_eq!(r.status, 200, "{}", r.body);
    let held: Value = r.json().unwrap();
    let id = held["Lock"]["ID"].as_str().unwrap().to_string();
    assert_eq!(held["Lock"]["TTL"], "10s");
    assert_eq!(put(&base, "locks/a", "?lock-acquire", &lock).status, 409);
    assert_eq!(
        put(&base, "locks/a", "", &json!({"Items": {"x": "y"}})).status,
        409
    );
    let r = put(
        &base,
        "locks/a",
        "",
        &json!({"Items": {"owner": "a2"}, "Lock": {"ID": id}}),
    );
    assert_eq!(r.status, 200, "the holder writes: {}", r.body);
    let r = put(
        &base,
        "locks/a",
        "?lock-renew",
        &json!({"Lock": {"ID": id}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.json()
            .unwrap()
            .get("Items")
            .is_none_or(|i| i.as_object().is_none_or(|m| m.is_empty())),
        "a renewal shows no items"
    );
    assert_eq!(
        put(
            &base,
            "locks/a",
            "?lock-renew",
            &json!({"Lock": {"ID": "other"}})
        )
        .status,
        409
    );
    let r = put(
        &base,
        "locks/a",
        "?lock-release",
        &json!({"Lock": {"ID": id}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let released: Value = r.json().unwrap();
    assert!(released.get("Lock").is_none_or(Value::is_null));
    assert_eq!(
        released["Items"]["owner"], "a2",
        "a release keeps the items"
    );
    assert_eq!(
        put(&base, "locks/a", "?lock-acquire&lock-renew", &lock).status,
        400
    );
    assert_eq!(
        put(
            &base,
            "locks/a",
            "?lock-acquire",
            &json!({"Lock": {"TTL": "1s"}})
        )
        .status,
        400
    );

    // A lock nobody renews lapses; then its delay keeps it free.
    let r = put(&base, "locks/lapse", "?lock-acquire", &lock);
    assert_eq!(r.status, 200, "{}", r.body);
    wait_for("the unrenewed lock to lapse", SETTLE, || {
        let v = agent.get("/v1/var/locks/lapse").ok()?;
        v.get("Lock").is_none_or(Value::is_null).then_some(())
    })
    .unwrap();
    let r = put(&base, "locks/lapse", "?lock-acquire", &lock);
    assert_eq!(r.status, 409, "inside the lock delay: {}", r.body);
    wait_for("the lock delay to pass", SETTLE, || {
        (put(&base, "locks/lapse", "?lock-acquire", &lock).status == 200).then_some(())
    })
    .unwrap();

    // Two `var lock` children on one path run one after the other.
    let log = dir.path().join("children.log");
    let child = format!(
        "echo start $$ >> {0}; sleep 2; echo end $$ >> {0}",
        log.display()
    );
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let mut cmd = std::process::Command::new(nomadctl_bin());
            cmd.env("NOMAD_ADDR", &base)
                .args(["var", "lock", "-ttl", "10s", "locks/cli", &child]);
            cmd.spawn().unwrap()
        })
        .collect();
    for mut r in runs {
        let status = r.wait().unwrap();
        assert!(status.success());
    }
    let text = std::fs::read_to_string(&log).unwrap();
    let events: Vec<&str> = text
        .lines()
        .map(|l| l.split(' ').next().unwrap_or(""))
        .collect();
    assert_eq!(
        events,
        ["start", "end", "start", "end"],
        "the children overlapped:\n{text}"
    );
    let v = agent.get("/v1/var/locks/cli").unwrap();
    assert!(
        v.get("Lock").is_none_or(Value::is_null),
        "each run released its lock: {v}"
    );
}
