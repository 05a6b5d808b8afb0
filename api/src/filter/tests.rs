use serde_json::{json, Value};

use super::{Filter, FilterError, MAX_DEPTH};

/// A job-list-like item most cases run against.
fn job() -> Value {
    json!({
        "ID": "web-1",
        "JobID": "example",
        "Name": "web",
        "Status": "running",
        "Type": "service",
        "Priority": 50,
        "Stop": false,
        "Version": 3,
        "ModifyIndex": 18446744073709551615u64,
        "Score": 0.25,
        "Datacenters": ["dc1", "dc2"],
        "Tags": ["web", "prod"],
        "Ports": [80, 443],
        "Meta": {"owner": "ops", "my-key": "v", "empty": "", "zero": "0"},
        "EmptyList": [],
        "EmptyMap": {},
        "EmptyString": "",
        "Nothing": null,
        "NodeResources": {"Cpu": {"CpuShares": 4000}, "Devices": [{"Name": "gpu"}]},
        "Description": "line1\nline2"
    })
}

fn check(cases: &[(&str, Value, bool)]) {
    let mut failures = Vec::new();
    for (expr, item, want) in cases {
        match Filter::parse(expr) {
            Ok(f) => {
                let got = f.matches(item);
                if got != *want {
                    failures.push(format!("{expr:?}: got {got}, want {want}"));
                }
            }
            Err(e) => failures.push(format!("{expr:?}: did not parse: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn filter_equality_and_types() {
    let j = job();
    check(&[
        (r#"Status == "running""#, j.clone(), true),
        (r#"Status == "dead""#, j.clone(), false),
        (r#"Status != "dead""#, j.clone(), true),
        (r#"Status != "running""#, j.clone(), false),
        ("Status == running", j.clone(), true),
        ("Status == `running`", j.clone(), true),
        (r#"Status=="running""#, j.clone(), true),
        ("Type == service", j.clone(), true),
        // Numbers: the value's text is read as a number.
        ("Priority == 50", j.clone(), true),
        (r#"Priority == "50""#, j.clone(), true),
        ("Priority == 50.0", j.clone(), true),
        ("Priority == 51", j.clone(), false),
        ("Priority != 51", j.clone(), true),
        ("Priority == high", j.clone(), false),
        ("Priority != high", j.clone(), true),
        ("Score == 0.25", j.clone(), true),
        ("Score == 2.5e-1", j.clone(), true),
        ("NodeResources.Cpu.CpuShares == 4000", j.clone(), true),
        ("ModifyIndex == 18446744073709551615", j.clone(), true),
        ("ModifyIndex == 18446744073709551614", j.clone(), false),
        ("Delta == -3", json!({"Delta": -3}), true),
        ("Delta == 3", json!({"Delta": -3}), false),
        // Bools.
        ("Stop == false", j.clone(), true),
        ("Stop == False", j.clone(), true),
        (r#"Stop == "false""#, j.clone(), true),
        ("Stop == true", j.clone(), false),
        ("Stop != true", j.clone(), true),
        ("Stop == 0", j.clone(), true),
        ("Stop == no", j.clone(), false),
        // A string field compares as a string, even against a number literal.
        ("Code == 50", json!({"Code": "50"}), true),
        ("Code == 50.0", json!({"Code": "50"}), false),
        // Bare words may be dotted and stand for their own text.
        ("Host == dc1.rack2", json!({"Host": "dc1.rack2"}), true),
        // Escapes in double quotes, none in backticks.
        (r#"Description == "line1\nline2""#, j.clone(), true),
        (r#"Description == `line1\nline2`"#, j.clone(), false),
        (r#"Q == "say \"hi\"""#, json!({"Q": "say \"hi\""}), true),
        (r#"Q == "\u00e9\x41""#, json!({"Q": "éA"}), true),
        ("Q == `a\"b`", json!({"Q": "a\"b"}), true),
        ("Q == \"é\"", json!({"Q": "é"}), true),
        // == on arrays and objects is false.
        ("Tags == web", j.clone(), false),
        ("Meta == owner", j.clone(), false),
        ("Tags != web", j.clone(), true),
    ]);
}

#[test]
fn filter_empty_in_contains_matches() {
    let j = job();
    check(&[
        ("EmptyList is empty", j.clone(), true),
        ("EmptyMap is empty", j.clone(), true),
        ("EmptyString is empty", j.clone(), true),
        ("Nothing is empty", j.clone(), true),
        ("Missing is empty", j.clone(), true),
        ("Meta.empty is empty", j.clone(), true),
        ("Tags is empty", j.clone(), false),
        ("Meta is empty", j.clone(), false),
        ("Status is empty", j.clone(), false),
        ("Priority is empty", j.clone(), false),
        ("Stop is empty", j.clone(), false),
        ("Tags is not empty", j.clone(), true),
        ("Missing is not empty", j.clone(), false),
        ("EmptyList is not empty", j.clone(), false),
        // Arrays: element equality.
        (r#""dc1" in Datacenters"#, j.clone(), true),
        ("dc2 in Datacenters", j.clone(), true),
        (r#""dc3" in Datacenters"#, j.clone(), false),
        (r#""dc3" not in Datacenters"#, j.clone(), true),
        (r#""dc1" not in Datacenters"#, j.clone(), false),
        ("Datacenters contains dc1", j.clone(), true),
        (r#"Datacenters contains "dc""#, j.clone(), false),
        (r#"Datacenters not contains "dc3""#, j.clone(), true),
        ("Ports contains 443", j.clone(), true),
        ("443 in Ports", j.clone(), true),
        ("8080 in Ports", j.clone(), false),
        // Objects: key present.
        ("Meta contains owner", j.clone(), true),
        (r#""my-key" in Meta"#, j.clone(), true),
        (r#"Meta contains "ops""#, j.clone(), false),
        ("nope not in Meta", j.clone(), true),
        // Strings: substring.
        (r#"Status contains "unn""#, j.clone(), true),
        (r#""run" in Status"#, j.clone(), true),
        (r#"Status contains "dead""#, j.clone(), false),
        (r#"Status not contains "dead""#, j.clone(), true),
        // Numbers and bools contain nothing.
        ("Priority contains 5", j.clone(), false),
        ("Priority not contains 5", j.clone(), true),
        // Regular expressions, unanchored.
        (r#"ID matches "^web-[0-9]+$""#, j.clone(), true),
        (r#"ID matches "eb""#, j.clone(), true),
        (r#"ID matches "^eb""#, j.clone(), false),
        (r#"ID not matches "^api-""#, j.clone(), true),
        (r#"ID not matches "^web""#, j.clone(), false),
        (r#"ID matches `^web-\d$`"#, j.clone(), true),
        (r#"Priority matches "^5""#, j.clone(), true),
        (r#"Tags matches "web""#, j.clone(), false),
        ("Name matches web", j.clone(), true),
    ]);
}

#[test]
fn filter_missing_selectors() {
    let j = job();
    check(&[
        ("Missing == x", j.clone(), false),
        ("Missing != x", j.clone(), true),
        (r#"Missing == """#, j.clone(), false),
        ("Missing contains x", j.clone(), false),
        ("Missing not contains x", j.clone(), true),
        ("x in Missing", j.clone(), false),
        ("x not in Missing", j.clone(), true),
        ("Missing matches `.*`", j.clone(), false),
        ("Missing not matches `.*`", j.clone(), true),
        // Through a missing map, and through a scalar.
        ("Meta.nope == x", j.clone(), false),
        ("Meta.nope != x", j.clone(), true),
        ("Missing.deeper.still is empty", j.clone(), true),
        ("Status.Sub == x", j.clone(), false),
        ("Status.Sub is empty", j.clone(), true),
        // null behaves as missing.
        ("Nothing == null", j.clone(), false),
        ("Nothing != x", j.clone(), true),
        // Keys are case-sensitive.
        ("status == running", j.clone(), false),
    ]);
}

#[test]
fn filter_selectors_nested_and_bracketed() {
    let j = job();
    check(&[
        ("Meta.owner == ops", j.clone(), true),
        (r#"Meta["owner"] == "ops""#, j.clone(), true),
        (r#"Meta["my-key"] == "v""#, j.clone(), true),
        ("Meta[`my-key`] == v", j.clone(), true),
        (r#"Meta["my-key"] is not empty"#, j.clone(), true),
        (r#"Meta["other-key"] is empty"#, j.clone(), true),
        (r#"Meta [ "my-key" ] == v"#, j.clone(), true),
        ("Meta . owner == ops", j.clone(), true),
        ("Meta.zero == 0", j.clone(), true),
        ("NodeResources.Cpu.CpuShares != 1", j.clone(), true),
        (r#"NodeResources["Cpu"].CpuShares == 4000"#, j.clone(), true),
        // Array indices, by bracketed number or string.
        ("Tags[0] == web", j.clone(), true),
        (r#"Tags["1"] == prod"#, j.clone(), true),
        ("Tags[2] is empty", j.clone(), true),
        ("NodeResources.Devices[0].Name == gpu", j.clone(), true),
        // Keywords are fine after a dot.
        ("Meta.empty is empty", j.clone(), true),
        ("A/B == x", json!({"A/B": "x"}), true),
        ("_under == x", json!({"_under": "x"}), true),
        (r#"Meta["a.b"] == x"#, json!({"Meta": {"a.b": "x"}}), true),
        ("Meta.a.b == x", json!({"Meta": {"a.b": "x"}}), false),
    ]);
}

#[test]
fn filter_boolean_logic_and_precedence() {
    let j = job();
    check(&[
        ("Status == running and Priority == 50", j.clone(), true),
        ("Status == running and Priority == 10", j.clone(), false),
        ("Status == dead or Priority == 50", j.clone(), true),
        ("Status == dead or Priority == 10", j.clone(), false),
        ("not Status == dead", j.clone(), true),
        ("not Status == running", j.clone(), false),
        ("not not Status == running", j.clone(), true),
        ("not (Status == dead or Priority == 10)", j.clone(), true),
        // and binds tighter than or: true or (false and false) = true.
        (
            "Status == running or Status == dead and Priority == 10",
            j.clone(),
            true,
        ),
        // Parentheses override: (true or false) and false = false.
        (
            "(Status == running or Status == dead) and Priority == 10",
            j.clone(),
            false,
        ),
        // not binds tighter than and: (not false) and true = true.
        ("not Status == dead and Priority == 50", j.clone(), true),
        // (not true) and ... = false, not not(true and false).
        ("not Status == running and Priority == 10", j.clone(), false),
        // The documented example: a and not b or c == (a and (not b)) or c.
        (
            "Stop == true and not Type == batch or Name == web",
            j.clone(),
            true,
        ),
        (
            "Stop == false and not Type == service or Name == api",
            j.clone(),
            false,
        ),
        ("((((Status == running))))", j.clone(), true),
        (
            "(Status == running) and (Tags contains web) and (Meta.owner == ops)",
            j.clone(),
            true,
        ),
        (
            "Status == dead or Status == pending or Status == running",
            j.clone(),
            true,
        ),
        (
            "Status == dead or Status == pending or Status == failed",
            j.clone(),
            false,
        ),
        // Whitespace (tabs, newlines) is ignored between tokens.
        ("Status ==\trunning\nand\n  Priority == 50", j.clone(), true),
    ]);
}

#[test]
fn filter_bad_expressions_name_problem_and_column() {
    // (expression, text the message must contain, column)
    let cases: &[(&str, &str, usize)] = &[
        ("", "empty filter expression", 1),
        ("   ", "empty filter expression", 1),
        (
            "Meta.owner == ",
            "expected a value after \"==\", found end of input",
            15,
        ),
        (
            "Status ==",
            "expected a value after \"==\", found end of input",
            10,
        ),
        (
            "Status != and",
            "expected a value after \"!=\", found \"and\"",
            11,
        ),
        ("Status", "expected an operator", 7),
        (
            "Status = running",
            "unexpected character '=' (did you mean \"==\"?)",
            8,
        ),
        ("Status == \"running", "unterminated string", 11),
        ("Status == `running", "unterminated raw string", 11),
        (r#"Status == "a\qb""#, "unknown escape sequence \"\\q\"", 13),
        (
            r#"Status == "\xff""#,
            "invalid escape sequence \"\\xff\"",
            12,
        ),
        (r#"Status == "\u12""#, "invalid escape sequence", 12),
        (
            "(Status == running",
            "to close the \"(\" at column 1, found end of input",
            19,
        ),
        ("Status == running)", "unmatched \")\"", 18),
        (
            "Status == running Priority == 1",
            "expected \"and\", \"or\" or end of input, found name \"Priority\"",
            19,
        ),
        (
            "Status == running and",
            "expected an expression, found end of input",
            22,
        ),
        ("and Status == x", "found \"and\"", 1),
        (
            "Status == x && Stop == true",
            "unexpected character '&' (use \"and\")",
            13,
        ),
        (
            "Status == x || Stop == true",
            "unexpected character '|' (use \"or\")",
            13,
        ),
        ("!Stop", "unexpected character '!'", 1),
        (
            "Status is",
            "expected \"empty\" or \"not empty\" after \"is\", found end of input",
            10,
        ),
        ("Status is not", "expected \"empty\" after \"is not\"", 14),
        (
            "Status is full",
            "expected \"empty\" or \"not empty\" after \"is\", found name \"full\"",
            11,
        ),
        (
            "Tags not web",
            "expected \"in\", \"contains\" or \"matches\" after \"not\", found name \"web\"",
            10,
        ),
        (
            "\"web\" == Tags",
            "expected \"in\" or \"not in\" after string \"web\"",
            7,
        ),
        (
            "\"web\" not contains Tags",
            "expected \"in\" after \"not\"",
            11,
        ),
        (
            "\"web\" in",
            "expected a selector after \"in\", found end of input",
            9,
        ),
        (
            "\"web\" in \"Tags\"",
            "expected a selector after \"in\", found string \"Tags\"",
            10,
        ),
        ("Meta[\"a\"] in Tags", "expected a value before \"in\"", 1),
        (
            "Meta.",
            "expected a field name after \".\", found end of input",
            6,
        ),
        (
            "Meta.\"x\" == y",
            "expected a field name after \".\", found string \"x\"",
            6,
        ),
        (
            "Meta[owner] == x",
            "expected a quoted key after \"[\", found name \"owner\"",
            6,
        ),
        (
            "Meta[\"owner\" == x",
            "expected \"]\" after the key, found \"==\"",
            14,
        ),
        (
            "Status == a.",
            "expected a name after \".\" in bare value \"a\"",
            13,
        ),
        (
            "ID matches \"[\"",
            "invalid regular expression \"[\" after \"matches\"",
            12,
        ),
        (
            "ID not matches `(a`",
            "invalid regular expression \"(a\"",
            16,
        ),
        ("Priority == 12ab", "invalid number \"12ab\"", 13),
        ("Priority == 1.2.3", "invalid number \"1.2.3\"", 13),
        ("Priority == 1.", "invalid number \"1.\"", 13),
        ("Status == 'x'", "unexpected character '\\''", 11),
        // Columns count characters, not bytes.
        (
            "Meta[\"ünï\"] == \"é\" and ?",
            "unexpected character '?'",
            24,
        ),
        (
            "\"é\" in Tags and",
            "expected an expression, found end of input",
            16,
        ),
        ("Ünï == x", "unexpected character 'Ü'", 1),
        ("not", "expected an expression, found end of input", 4),
        (
            "()",
            "expected a selector, a value or \"(\", found \")\"",
            2,
        ),
    ];
    let mut failures = Vec::new();
    for (expr, want_msg, want_col) in cases {
        match Filter::parse(expr) {
            Ok(_) => failures.push(format!("{expr:?}: parsed, want error {want_msg:?}")),
            Err(e) => {
                let shown = e.to_string();
                let ok = e.message().contains(want_msg)
                    && e.column() == *want_col
                    && shown.starts_with("filter: ")
                    && shown.ends_with(&format!(" at column {want_col}"));
                if !ok {
                    failures.push(format!(
                        "{expr:?}: got {shown:?}, want message containing {want_msg:?} at column {want_col}"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn filter_error_display_is_exact() {
    let e = Filter::parse("Meta.owner ==").unwrap_err();
    assert_eq!(
        e.to_string(),
        "filter: expected a value after \"==\", found end of input at column 14"
    );
    assert_eq!(
        e,
        FilterError::new("expected a value after \"==\", found end of input", 14)
    );
}

#[test]
fn filter_depth_is_limited() {
    let nested = |n: usize| format!("{}Status == running{}", "(".repeat(n), ")".repeat(n));
    let ok = Filter::parse(&nested(MAX_DEPTH)).expect("64 levels parse");
    assert!(ok.matches(&job()));
    let e = Filter::parse(&nested(MAX_DEPTH + 1)).unwrap_err();
    assert!(e.message().contains("nests deeper than 64"), "{e}");
    assert_eq!(e.column(), MAX_DEPTH + 1);

    // Far past the limit, with parens or with `not`, is an error and not a stack overflow.
    assert!(Filter::parse(&nested(100_000)).is_err());
    let nots = format!("{}Status == running", "not ".repeat(100_000));
    assert!(Filter::parse(&nots)
        .unwrap_err()
        .message()
        .contains("nests deeper"));
    let even_nots = format!("{}Status == running", "not ".repeat(64));
    assert!(Filter::parse(&even_nots).unwrap().matches(&job()));
}

#[test]
fn filter_long_chains_stay_flat() {
    // A long and/or chain is not nesting: it parses, evaluates and drops without deep recursion.
    let chain = vec!["Status == running"; 50_000].join(" and ");
    assert!(Filter::parse(&chain).unwrap().matches(&job()));
    let mut chain = vec!["Status == dead"; 50_000].join(" or ");
    chain.push_str(" or Priority == 50");
    assert!(Filter::parse(&chain).unwrap().matches(&job()));
}

#[test]
fn filter_public_surface() {
    let f: Filter = "Status == running".parse().unwrap();
    assert_eq!(f.as_str(), "Status == running");
    assert_eq!(f.to_string(), "Status == running");
    // Works on any JSON, not only objects.
    assert!(!f.matches(&json!(null)));
    assert!(!f.matches(&json!([1, 2])));
    assert!(!f.matches(&json!("running")));
    assert!(Filter::parse("X is empty").unwrap().matches(&json!(42)));
}

/// Deterministic noise built from the language's own pieces: nothing may panic.
#[test]
fn filter_arbitrary_input_never_panics() {
    let pieces = [
        "Status", "Meta", ".", "[", "]", "(", ")", "\"", "`", "\\", "==", "!=", "=", "!", " ",
        "and", "or", "not", "is", "empty", "in", "contains", "matches", "\"x\"", "`y`", "5", "-",
        "1.5e", "é", "\u{0}", "\"\\u", "\"\\x4", "Tags", "[0]", "[\"k\"]", "*", "+(",
    ];
    let item = job();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut parsed = 0;
    for _ in 0..20_000 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let len = (state >> 59) as usize + 1;
        let mut s = String::new();
        let mut r = state;
        for _ in 0..len {
            r = r.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            s.push_str(pieces[(r >> 33) as usize % pieces.len()]);
        }
        match Filter::parse(&s) {
            Ok(f) => {
                parsed += 1;
                let _ = f.matches(&item);
            }
            Err(e) => assert!(
                e.column() >= 1 && e.column() <= s.chars().count() + 1,
                "{s:?}: {e}"
            ),
        }
    }
    assert!(
        parsed > 0,
        "the generator never produced a valid expression"
    );
}
