//! Error tests: every message names the template, the line:col and what to fix.

use super::tests::render;
use super::{Template, TemplateError};

/// Runs (template, JSON data, expected full error message) rows.
fn check_errors(cases: &[(&str, &str, &str)]) {
    let mut failures = Vec::new();
    for (src, data, want) in cases {
        match render(src, data) {
            Err(e) if e.to_string() == *want => {}
            Err(e) => failures.push(format!("{src:?}:\n   got  {e}\n   want {want}")),
            Ok(out) => failures.push(format!("{src:?}: rendered {out:?}, want error {want}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn parse_errors_point_at_the_token() {
    check_errors(&[
        ("ab\n{{.A", "null", "template: t:2:1: unclosed action"),
        ("{{if .}}x", "null", "template: t:1:10: unexpected EOF: {{if}} at 1:1 has no matching {{end}}"),
        ("x\n{{range .}}{{with .}}y{{end}}", "null", "template: t:2:30: unexpected EOF: {{range}} at 2:1 has no matching {{end}}"),
        ("{{ foo 1 }}", "null", r#"template: t:1:4: function "foo" not defined"#),
        ("a\n  {{$x}}", "null", r#"template: t:2:5: undefined variable "$x""#),
        ("{{$x = 1}}", "null", r#"template: t:1:3: undefined variable "$x""#),
        ("{{with $y := 1}}{{end}}{{$y}}", "null", r#"template: t:1:26: undefined variable "$y""#),
        ("{{range $i, $e := .}}{{end}}{{$i}}", "null", r#"template: t:1:31: undefined variable "$i""#),
        (r#"{{$x := 1}}{{define "d"}}{{$x}}{{end}}"#, "null", r#"template: t:1:28: undefined variable "$x""#),
        (
            "a{{end}}",
            "null",
            "template: t:1:4: unexpected {{end}}: no {{if}}, {{with}}, {{range}}, {{define}} or {{block}} is open",
        ),
        ("{{else}}", "null", "template: t:1:3: unexpected {{else}} outside {{if}}, {{with}} or {{range}}"),
        ("{{.A}", "null", "template: t:1:5: bad character U+007D '}'"),
        ("{{index . 0}", "null", r#"template: t:1:12: unexpected "}" in operand"#),
        ("{{break}}", "null", "template: t:1:3: {{break}} outside {{range}}"),
        ("{{range .}}{{else}}{{continue}}{{end}}", "null", "template: t:1:22: {{continue}} outside {{range}}"),
        (
            "{{if 1}}{{define \"x\"}}{{end}}{{end}}",
            "null",
            "template: t:1:11: {{define}} is only allowed at the top level, not inside an action or block",
        ),
        (r#"{{define "x"}}a{{end}}{{define "x"}}b{{end}}"#, "null", r#"template: t:1:32: multiple definition of template "x""#),
        (r#"{{"abc}}"#, "null", "template: t:1:3: unterminated quoted string"),
        (r#"{{"\q"}}"#, "null", r#"template: t:1:3: invalid escape \q in quoted string"#),
        ("{{1x}}", "null", r#"template: t:1:3: bad number syntax: "1x""#),
        ("{{0x}}", "null", r#"template: t:1:3: illegal number syntax: "0x""#),
        ("{{99999999999999999999}}", "null", r#"template: t:1:3: number "99999999999999999999" overflows a 64-bit integer"#),
        ("{{/* x }}", "null", "template: t:1:1: unclosed comment"),
        ("{{/* x */ .A}}", "null", "template: t:1:10: comment ends before closing delimiter: write {{/* ... */}}"),
        ("{{(.A}}", "null", "template: t:1:6: unclosed left paren: missing \")\""),
        ("{{.A)}}", "null", "template: t:1:5: unexpected right paren: no \"(\" to close"),
        ("{{if}}{{end}}", "null", "template: t:1:5: missing value for if"),
        ("{{}}", "null", "template: t:1:3: missing value for command"),
        ("{{.A |}}", "null", "template: t:1:6: missing command after \"|\""),
        ("{{.A | 1}}", "null", "template: t:1:8: non executable command in pipeline stage 2"),
        ("{{$a, $b := 1}}", "null", "template: t:1:5: too many declarations in command"),
        ("{{\"x\".A}}", "null", r#"template: t:1:6: unexpected . after term "\"x\"""#),
        ("{{.A | if}}", "null", "template: t:1:8: unexpected <if> in command"),
        ("{{range .}}{{else if .}}{{end}}", "null", "template: t:1:14: {{else if}} is not allowed in {{range}}; use {{else}}{{if ...}}...{{end}}"),
        ("{{.A # }}", "null", r##"template: t:1:6: unexpected "#" in operand"##),
        ("{{.A\u{1F600}}}", "null", "template: t:1:5: bad character U+1F600 '\u{1F600}'"),
        ("{{ \u{1F600} }}", "null", "template: t:1:4: unrecognized character in action: U+1F600 '\u{1F600}'"),
        ("{{template x}}", "null", r#"template: t:1:12: unexpected "x" in template clause"#),
    ]);
}

#[test]
fn exec_errors_name_the_node() {
    check_errors(&[
        (
            "{{len 1 2}}",
            "null",
            r#"template: t:1:3: executing "t" at <len>: error calling len: wrong number of args for len: want 1 got 2"#,
        ),
        (
            "{{not}}",
            "null",
            r#"template: t:1:3: executing "t" at <not>: error calling not: wrong number of args for not: want 1 got 0"#,
        ),
        (
            "{{and}}",
            "null",
            r#"template: t:1:3: executing "t" at <and>: wrong number of args for and: want at least 1 got 0"#,
        ),
        (
            "x\n{{.A.B}}",
            r#"{"A":"s"}"#,
            r#"template: t:2:3: executing "t" at <.A.B>: can't evaluate field B in type string"#,
        ),
        (
            "{{.A.B}}",
            r#"{"A":[1]}"#,
            r#"template: t:1:3: executing "t" at <.A.B>: can't evaluate field B in type []interface {}"#,
        ),
        (
            "{{$x := 1}}{{$x.Y}}",
            "null",
            r#"template: t:1:14: executing "t" at <$x.Y>: can't evaluate field Y in type int"#,
        ),
        (
            r#"{{template "nope"}}"#,
            "null",
            r#"template: t:1:1: executing "t" at <{{template "nope"}}>: template "nope" not defined"#,
        ),
        (
            r#"{{define "d"}}{{.X.Y}}{{end}}{{template "d" .}}"#,
            r#"{"X":true}"#,
            r#"template: t:1:17: executing "d" at <.X.Y>: can't evaluate field Y in type bool"#,
        ),
        (
            r#"{{range .}}{{end}}"#,
            r#""str""#,
            r#"template: t:1:9: executing "t" at <.>: range can't iterate over str"#,
        ),
        (
            r#"{{range $i, $e := 3}}{{end}}"#,
            "null",
            r#"template: t:1:9: executing "t" at <$i, $e := 3>: range over an integer takes one variable, not two"#,
        ),
        (
            "{{index . 5}}",
            "[1]",
            r#"template: t:1:3: executing "t" at <index>: error calling index: index out of range: 5"#,
        ),
        (
            "{{index . \"a\"}}",
            "[1]",
            r#"template: t:1:3: executing "t" at <index>: error calling index: cannot index slice/array with type string"#,
        ),
        (
            "{{index . 1}}",
            r#"{"a":1}"#,
            r#"template: t:1:3: executing "t" at <index>: error calling index: value has type int; should be string"#,
        ),
        (
            "{{slice . 2 1}}",
            "[1,2,3]",
            r#"template: t:1:3: executing "t" at <slice>: error calling slice: invalid slice index: 2 > 1"#,
        ),
        (
            "{{lt 1 \"a\"}}",
            "null",
            r#"template: t:1:3: executing "t" at <lt>: error calling lt: incompatible types for comparison: int and string"#,
        ),
        (
            "{{eq . 1}}",
            "[1]",
            r#"template: t:1:3: executing "t" at <eq>: error calling eq: incompatible types for comparison: []interface {} and int"#,
        ),
        (
            "{{lt true false}}",
            "null",
            r#"template: t:1:3: executing "t" at <lt>: error calling lt: invalid type for comparison: bool"#,
        ),
        (
            "{{eq 1}}",
            "null",
            r#"template: t:1:3: executing "t" at <eq>: error calling eq: missing argument for comparison: eq needs at least 2 arguments"#,
        ),
        (
            "{{len 3}}",
            "null",
            r#"template: t:1:3: executing "t" at <len>: error calling len: len of type int"#,
        ),
        (
            "{{call .}}",
            "null",
            r#"template: t:1:3: executing "t" at <call>: error calling call: call is not supported: template data holds no functions"#,
        ),
        (
            "{{printf 1}}",
            "null",
            r#"template: t:1:3: executing "t" at <printf>: error calling printf: format must be a string, not int"#,
        ),
        (
            "{{nil}}",
            "null",
            r#"template: t:1:3: executing "t" at <nil>: nil is not a command"#,
        ),
        (
            "{{.A 1}}",
            "{}",
            r#"template: t:1:3: executing "t" at <.A>: can't give argument to non-function .A"#,
        ),
        (
            "{{1 | .A}}",
            "{}",
            r#"template: t:1:7: executing "t" at <.A>: can't give argument to non-function .A"#,
        ),
        (
            r#"{{define "r"}}{{template "r" .}}{{end}}{{template "r" .}}"#,
            "null",
            r#"template: t:1:15: executing "r" at <{{template "r" .}}>: exceeded maximum template depth (100)"#,
        ),
    ]);
}

#[test]
fn parse_reports_the_first_error() {
    // The syntax error comes before the lexical one (the unclosed action), as in Go.
    let err = Template::parse("job.tpl", "ok\n{{.A }\n{{").expect_err("malformed");
    assert_eq!(
        err.to_string(),
        r#"template: job.tpl:2:6: unexpected "}" in operand"#
    );
    assert!(matches!(
        err,
        TemplateError::Parse {
            line: 2,
            col: 6,
            ..
        }
    ));
}

/// Runs on the test harness's 2 MiB thread in a debug build, so the limits must fit that.
#[test]
fn hostile_nesting_errors_instead_of_overflowing_the_stack() {
    let parens = |n: usize| format!("{{{{{}1{}}}}}", "(".repeat(n), ")".repeat(n));
    assert_eq!(render(&parens(99), "null").expect("99 parens"), "1");
    let err = render(&parens(101), "null")
        .expect_err("101 parens")
        .to_string();
    assert_eq!(err, "template: t:1:103: nesting deeper than 100 levels");

    let withs = |n: usize| format!("{}x{}", "{{with 1}}".repeat(n), "{{end}}".repeat(n));
    assert_eq!(render(&withs(99), "null").expect("99 blocks"), "x");
    assert!(render(&withs(101), "null").is_err());

    // Unbounded recursion through deeply nested bodies, a deep expression at the bottom.
    let src = format!(
        r#"{{{{define "r"}}}}{}{{{{template "r" {}.{}}}}}{}{{{{end}}}}{{{{template "r" .}}}}"#,
        "{{with 1}}".repeat(45),
        "(".repeat(45),
        ")".repeat(45),
        "{{end}}".repeat(45),
    );
    let err = render(&src, "null").expect_err("recursion").to_string();
    assert!(
        err.contains("exceeded maximum nesting of 150 blocks and template calls"),
        "{err}"
    );
}
