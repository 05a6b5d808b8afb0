// Checks each real Nomad job file in tests/corpus/ parses, is refused as "not supported", or hits
// a known gap, as expected.txt says; the files come from public repositories listed in SOURCES.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use api::jobspec::{parse_file_with, ParseOptions};

/// What expected.txt says should happen to one file.
#[derive(Debug)]
enum Expect {
    Ok,
    /// Fails with a message containing this text and "is not supported".
    Refused(String),
    /// A known parser gap: fails with a message containing this text.
    Gap(String),
}

struct Line {
    number: usize,
    expect: Expect,
    vars: Vec<(String, String)>,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("corpus")
}

/// `<file> ok`, `<file> refused: <text>` or `<file> gap: <text>`, each optionally followed by
/// ` vars: name=value;name2=value2`. Blank lines and `#` comments are skipped.
fn parse_line(text: &str, number: usize) -> Result<(String, Line), String> {
    let (head, vars_text) = match text.split_once(" vars: ") {
        Some((head, vars)) => (head, Some(vars)),
        None => (text, None),
    };
    let (file, status) = head
        .split_once(' ')
        .ok_or_else(|| "expected `<file> <status>`".to_string())?;
    let status = status.trim();
    let expect = if status == "ok" {
        Expect::Ok
    } else if let Some(s) = status.strip_prefix("refused:") {
        Expect::Refused(s.trim().to_string())
    } else if let Some(s) = status.strip_prefix("gap:") {
        Expect::Gap(s.trim().to_string())
    } else {
        return Err(format!(
            "unknown status {status:?}: use ok, refused: or gap:"
        ));
    };
    if let Expect::Refused(s) | Expect::Gap(s) = &expect {
        if s.is_empty() {
            return Err("an empty error substring matches anything".to_string());
        }
    }
    let mut vars = Vec::new();
    if let Some(vars_text) = vars_text {
        for pair in vars_text.split(';') {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("vars: {pair:?} is not name=value"))?;
            vars.push((name.trim().to_string(), value.to_string()));
        }
    }
    Ok((
        file.to_string(),
        Line {
            number,
            expect,
            vars,
        },
    ))
}

#[test]
fn corpus_files_parse_as_expected() {
    let dir = corpus_dir();
    let expected_path = dir.join("expected.txt");
    let expected_text = std::fs::read_to_string(&expected_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", expected_path.display()));

    let mut mismatches: Vec<String> = Vec::new();
    let mut lines: BTreeMap<String, Line> = BTreeMap::new();
    for (i, raw) in expected_text.lines().enumerate() {
        let number = i + 1;
        let text = raw.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        match parse_line(text, number) {
            Ok((file, line)) => {
                if let Some(first) = lines.get(&file) {
                    mismatches.push(format!(
                        "expected.txt:{number}: {file} already has line {}",
                        first.number
                    ));
                    continue;
                }
                lines.insert(file, line);
            }
            Err(why) => mismatches.push(format!("expected.txt:{number}: {why}")),
        }
    }

    // Every job file in the folder has exactly one line, and every line names a file that is there.
    let mut files: Vec<String> = Vec::new();
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        let path = entry.path();
        // LICENSES/ holds the sources' license texts, not job files.
        if path.is_dir() {
            continue;
        }
        let name = entry
            .file_name()
            .into_string()
            .unwrap_or_else(|n| panic!("corpus file name {n:?} is not UTF-8"));
        if name == "SOURCES.md" || name == "expected.txt" {
            continue;
        }
        if !lines.contains_key(&name) {
            mismatches.push(format!("{name}: no line in expected.txt"));
        }
        files.push(name);
    }
    for (name, line) in &lines {
        if !files.contains(name) {
            mismatches.push(format!(
                "expected.txt:{}: {name} is not in {}",
                line.number,
                dir.display()
            ));
        }
    }

    let (mut ok, mut refused, mut gaps) = (0, 0, 0);
    for (name, line) in &lines {
        if !files.contains(name) {
            continue;
        }
        let path = dir.join(name);
        let opts = ParseOptions {
            vars: line.vars.clone(),
            ..Default::default()
        };
        let result = parse_file_with(&path, &opts);
        let at = format!("{name} (expected.txt:{})", line.number);
        match (&line.expect, result) {
            (Expect::Ok, Ok(job)) => {
                ok += 1;
                if job.id.is_empty() {
                    mismatches.push(format!("{at}: parsed, but the job has no ID"));
                }
            }
            (Expect::Ok, Err(e)) => mismatches.push(format!(
                "{at}: expected ok, failed at {}:{}: {}",
                e.line, e.column, e.message
            )),
            (Expect::Refused(want), Err(e)) => {
                refused += 1;
                if !e.message.contains(want.as_str()) || !e.message.contains("is not supported") {
                    mismatches.push(format!(
                        "{at}: expected a refusal containing {want:?} and \"is not supported\", \
                         got {}:{}: {}",
                        e.line, e.column, e.message
                    ));
                }
            }
            (Expect::Refused(want), Ok(_)) => mismatches.push(format!(
                "{at}: expected a refusal containing {want:?}, but it parsed"
            )),
            (Expect::Gap(want), Err(e)) => {
                gaps += 1;
                if !e.message.contains(want.as_str()) {
                    mismatches.push(format!(
                        "{at}: known gap {want:?} now fails differently: {}:{}: {} \
                         (update expected.txt)",
                        e.line, e.column, e.message
                    ));
                }
            }
            (Expect::Gap(want), Ok(_)) => mismatches.push(format!(
                "{at}: known gap {want:?} is fixed, it parses now: mark it `ok` in expected.txt"
            )),
        }
    }

    eprintln!(
        "corpus: {} files listed; {ok} ok parsed, {refused} refused and {gaps} gap files failed",
        lines.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} corpus mismatch(es):\n  {}",
        mismatches.len(),
        mismatches.join("\n  ")
    );
}
