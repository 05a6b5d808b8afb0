//! Rendering tests: each construct, output formatting and the builtins, table-driven.

use std::sync::Arc;

use serde_json::{json, Value};

use super::{Funcs, Template, TemplateError};

pub(super) fn render(src: &str, data: &str) -> Result<String, TemplateError> {
    let data: Value = serde_json::from_str(data).expect("test data is JSON");
    Template::parse("t", src)?.render(&data, &Funcs::builtin())
}

/// Runs (template, JSON data, expected output) rows and reports every mismatch at once.
pub(super) fn check(cases: &[(&str, &str, &str)]) {
    let mut failures = Vec::new();
    for (src, data, want) in cases {
        match render(src, data) {
            Ok(got) if got == *want => {}
            Ok(got) => failures.push(format!("{src:?} on {data}: got {got:?}, want {want:?}")),
            Err(e) => failures.push(format!("{src:?} on {data}: error {e}, want {want:?}")),
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
fn text_comments_and_trim_markers() {
    check(&[
        ("hello", "null", "hello"),
        ("{{.}}", r#""x""#, "x"),
        ("a{{/* a comment */}}b", "null", "ab"),
        ("a {{- /* trimmed */ -}} b", "null", "ab"),
        ("a \n\t {{- .}}", "1", "a1"),
        ("{{. -}} \n\n b", "1", "1b"),
        ("x\n  {{- .A -}}\n  y", r#"{"A":1}"#, "x1y"),
        ("{{range .}}\n  {{- .}}\n{{- end}}", "[1,2]", "12"),
        ("{{-3}}", "null", "-3"),
        ("{{3 -}}   x", "null", "3x"),
        (
            "{{ .A\n  }}",
            r#"{"A":"multi-line action"}"#,
            "multi-line action",
        ),
        ("{{\"}}\"}}", "null", "}}"),
    ]);
}

#[test]
fn fields_and_missing_keys() {
    check(&[
        ("{{.A.B}}", r#"{"A":{"B":"c"}}"#, "c"),
        ("{{.Missing}}", "{}", "<no value>"),
        ("{{.A.Missing}}", r#"{"A":{}}"#, "<no value>"),
        ("{{.Missing.Deeper}}", "{}", "<no value>"),
        ("{{.A}}", r#"{"A":null}"#, "<nil>"),
        ("{{.A.B}}", r#"{"A":null}"#, "<no value>"),
        ("{{with .A}}{{$.B}}{{end}}", r#"{"A":1,"B":"root"}"#, "root"),
        ("{{$.A.B}}", r#"{"A":{"B":2}}"#, "2"),
        ("{{.Ünï_1}}", r#"{"Ünï_1":"u"}"#, "u"),
        ("{{(.A).B}}", r#"{"A":{"B":"p"}}"#, "p"),
        ("{{(index . 0).Name}}", r#"[{"Name":"n"}]"#, "n"),
    ]);
}

#[test]
fn variables_and_scope() {
    check(&[
        ("{{$x := 1}}{{$x}}", "null", "1"),
        ("{{$x := .A}}{{$x.B}}", r#"{"A":{"B":"v"}}"#, "v"),
        ("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", "null", "2"),
        (
            "{{$x := 1}}{{if true}}{{$x := 2}}{{$x}}{{end}}{{$x}}",
            "null",
            "21",
        ),
        ("{{$x := 1}}{{with 5}}{{$x := .}}{{end}}{{$x}}", "null", "1"),
        (
            "{{if $x := .A}}{{$x}}{{else}}none{{end}}",
            r#"{"A":"a"}"#,
            "a",
        ),
        ("{{$x := .Missing}}{{$x}}", "{}", "<no value>"),
        ("{{$}}", "7", "7"),
    ]);
}

#[test]
fn range_forms() {
    check(&[
        ("{{range .}}[{{.}}]{{end}}", "[1,2,3]", "[1][2][3]"),
        (
            "{{range $i, $e := .}}{{$i}}={{$e}} {{end}}",
            r#"["a","b"]"#,
            "0=a 1=b ",
        ),
        ("{{range $e := .}}{{$e}}{{end}}", "[1,2]", "12"),
        (
            "{{range $k, $v := .}}{{$k}}:{{$v}},{{end}}",
            r#"{"b":2,"a":1,"c":3}"#,
            "a:1,b:2,c:3,",
        ),
        ("{{range .}}x{{else}}empty{{end}}", "[]", "empty"),
        ("{{range .}}x{{else}}empty{{end}}", "{}", "empty"),
        (
            "{{range .A}}x{{else}}empty{{end}}",
            r#"{"A":null}"#,
            "empty",
        ),
        ("{{range .Missing}}x{{else}}empty{{end}}", "{}", "empty"),
        (
            "{{range .}}{{if eq . 3}}{{break}}{{end}}{{.}}{{end}}",
            "[1,2,3,4]",
            "12",
        ),
        (
            "{{range .}}{{if eq . 2}}{{continue}}{{end}}{{.}}{{end}}",
            "[1,2,3]",
            "13",
        ),
        (
            "{{range .}}{{with .}}{{break}}{{end}}x{{end}}done",
            "[1,2]",
            "done",
        ),
        (
            "{{range .}}{{range .}}{{if eq . 2}}{{break}}{{end}}{{.}}{{end}};{{end}}",
            "[[1,2,3],[4]]",
            "1;4;",
        ),
        ("{{range .}}{{$y := .}}{{$y}}{{end}}", "[1,2]", "12"),
        ("{{$i := 0}}{{range $i = .}}{{end}}{{$i}}", "[5,6]", "6"),
        ("{{range $x := .}}{{else}}{{len $x}}{{end}}", "[]", "0"),
        ("{{range 3}}{{.}}{{end}}", "null", "012"),
        ("{{range $i := 3}}{{$i}}{{end}}", "null", "012"),
        ("{{range 0}}x{{else}}none{{end}}", "null", "none"),
        ("{{range (slice . 1)}}{{.}}{{end}}", "[1,2,3]", "23"),
    ]);
}

#[test]
fn if_with_and_truthiness() {
    let mut cases = Vec::new();
    for falsy in ["false", "0", "0.0", r#""""#, "[]", "{}", "null"] {
        cases.push(("{{if .}}yes{{else}}no{{end}}", falsy, "no"));
    }
    for truthy in ["true", "1", "-1", "0.5", r#""a""#, "[0]", r#"{"a":0}"#] {
        cases.push(("{{if .}}yes{{else}}no{{end}}", truthy, "yes"));
    }
    cases.extend([
        ("{{if .Missing}}yes{{else}}no{{end}}", "{}", "no"),
        (
            "{{if eq . 1}}one{{else if eq . 2}}two{{else}}many{{end}}",
            "2",
            "two",
        ),
        (
            "{{if eq . 1}}one{{else if eq . 2}}two{{else}}many{{end}}",
            "5",
            "many",
        ),
        ("{{if .}}a{{end}}b", "false", "b"),
        ("{{with .A}}{{.}}{{else}}none{{end}}", r#"{"A":"x"}"#, "x"),
        ("{{with .A}}{{.}}{{else}}none{{end}}", "{}", "none"),
        (
            "{{with .A}}a{{else with .B}}{{.}}{{else}}none{{end}}",
            r#"{"B":"b"}"#,
            "b",
        ),
        (
            "{{with .A}}a{{else with .B}}{{.}}{{else}}none{{end}}",
            "{}",
            "none",
        ),
        ("{{with $x := .A}}{{$x}}{{.}}{{end}}", r#"{"A":3}"#, "33"),
    ]);
    check(&cases);
}

#[test]
fn pipelines_and_literals() {
    check(&[
        (r#"{{.A | printf "%s!"}}"#, r#"{"A":"x"}"#, "x!"),
        (r#"{{"a" | printf "%s-%s" "b"}}"#, "null", "b-a"),
        (r#"{{. | len | printf "%03d"}}"#, "[1,2]", "002"),
        (r#"{{printf "%d" (len (slice . 1))}}"#, "[1,2,3]", "2"),
        (r#"{{len (print .A .B)}}"#, r#"{"A":"ab","B":"c"}"#, "3"),
        (r#"{{"a\tb\u00e9\x41\101\\"}}"#, "null", "a\tbéAA\\"),
        ("{{`raw\\n`}}", "null", "raw\\n"),
        (
            "{{1}} {{-2}} {{+3}} {{1.5}} {{0x1F}} {{1e3}} {{1_000}} {{0o17}} {{017}} {{0b101}} {{.5}}",
            "null",
            "1 -2 3 1.5 31 1000 1000 15 15 5 0.5",
        ),
        ("{{'a'}} {{'\\n'}}", "null", "97 10"),
        ("{{true}} {{false}}", "null", "true false"),
        ("{{print nil}}", "null", "<nil>"),
        ("{{9223372036854775807}} {{18446744073709551615}}", "null", "9223372036854775807 18446744073709551615"),
    ]);
}

#[test]
fn logic_and_comparison() {
    check(&[
        ("{{and 1 0 2}}", "null", "0"),
        ("{{and 1 2}}", "null", "2"),
        (r#"{{or 0 "" "x"}}"#, "null", "x"),
        ("{{or 0 false}}", "null", "false"),
        ("{{and false (index . 5)}}", "[]", "false"),
        ("{{or true (index . 5)}}", "[]", "true"),
        ("{{.A | and 1}}", r#"{"A":"piped"}"#, "piped"),
        ("{{not 0}} {{not .}}", "[1]", "true false"),
        (
            "{{eq 1 1}} {{eq 1 1.0}} {{eq 1 2}}",
            "null",
            "true true false",
        ),
        (
            r#"{{eq "a" "b" "a"}} {{eq "a" "b" "c"}}"#,
            "null",
            "true false",
        ),
        (
            "{{eq .Missing nil}} {{eq .A nil}} {{eq 1 nil}}",
            r#"{"A":null}"#,
            "true true false",
        ),
        ("{{eq true true}} {{ne true false}}", "null", "true true"),
        ("{{ne 1 2}} {{ne \"a\" \"a\"}}", "null", "true false"),
        (
            "{{lt 1 2.5}} {{lt 3 2}} {{lt \"a\" \"b\"}}",
            "null",
            "true false true",
        ),
        (
            "{{le 2 2}} {{gt 3 2}} {{ge 1 2}} {{ge 2.0 2}}",
            "null",
            "true true false true",
        ),
        (
            "{{if and (gt .N 1) (lt .N 5)}}in{{end}}",
            r#"{"N":3}"#,
            "in",
        ),
    ]);
}

#[test]
fn collection_builtins() {
    check(&[
        ("{{len .}}", "[1,2]", "2"),
        ("{{len .}}", r#""héllo""#, "6"),
        ("{{len .}}", r#"{"a":1}"#, "1"),
        ("{{len .A}}", r#"{"A":null}"#, "0"),
        ("{{index . 1}}", r#"["a","b"]"#, "b"),
        ("{{index . \"a\" 0}}", r#"{"a":[7]}"#, "7"),
        ("{{index . \"zz\"}}", "{}", "<nil>"),
        ("{{index .}}", "[1]", "[1]"),
        ("{{index . 1}}", r#""abc""#, "98"),
        ("{{slice . 1 3}}", "[1,2,3,4]", "[2 3]"),
        ("{{slice . 2}}", r#""hello""#, "llo"),
        ("{{slice . 1 2 3}}", "[1,2,3,4]", "[2]"),
        ("{{slice .}}", r#""abc""#, "abc"),
    ]);
}

#[test]
fn define_template_and_block() {
    check(&[
        (
            r#"{{define "x"}}[{{.}}]{{end}}{{template "x" .A}}"#,
            r#"{"A":5}"#,
            "[5]",
        ),
        (
            r#"{{define "x"}}{{.}}{{end}}{{template "x"}}"#,
            "1",
            "<nil>",
        ),
        (r#"{{block "b" .}}<{{.}}>{{end}}!"#, "1", "<1>!"),
        (
            r#"{{define "x"}}{{$}}{{end}}{{$y := 1}}{{template "x" 7}}"#,
            "null",
            "7",
        ),
        (
            r#"{{template "x" .}}{{define "x"}}late{{end}}"#,
            "null",
            "late",
        ),
        (
            r#"{{define "r"}}{{.n}}{{if .c}},{{template "r" .c}}{{end}}{{end}}{{template "r" .}}"#,
            r#"{"n":1,"c":{"n":2,"c":{"n":3}}}"#,
            "1,2,3",
        ),
        (
            r#"{{define "x"}}   {{end}}{{define "x"}}real{{end}}{{template "x"}}"#,
            "null",
            "real",
        ),
        (
            r#"{{define "row"}}{{range .}}{{.}};{{end}}{{end}}{{range .}}{{template "row" .}}{{end}}"#,
            "[[1,2],[3]]",
            "1;2;3;",
        ),
    ]);
}

#[test]
fn caller_functions() {
    let mut funcs = Funcs::builtin();
    funcs.insert(
        "upper",
        Arc::new(|args: &[Value]| match args {
            [Value::String(s)] => Ok(Value::String(s.to_uppercase())),
            _ => Err("upper wants one string".to_string()),
        }),
    );
    funcs.insert("len", Arc::new(|_: &[Value]| Ok(json!("overridden"))));
    funcs.insert(
        "json",
        Arc::new(|args: &[Value]| {
            serde_json::to_string(&args)
                .map(Value::String)
                .map_err(|e| e.to_string())
        }),
    );
    let data = json!({"A": "web", "B": [1]});
    let cases = [
        ("{{.A | upper}}", "WEB"),
        (r#"{{upper "x"}}{{upper .A | printf "<%s>"}}"#, "X<WEB>"),
        ("{{len .B}}", "overridden"),
        ("{{json .B}}", "[[1]]"),
    ];
    for (src, want) in cases {
        let t = Template::parse_with("t", src, &funcs).expect("parses with caller functions");
        assert_eq!(t.render(&data, &funcs).expect("renders"), want, "{src}");
    }
    assert!(
        Template::parse("t", "{{upper .A}}").is_err(),
        "builtin table has no upper"
    );
    let t = Template::parse_with("t", "{{upper 1}}", &funcs).expect("parses");
    let err = t
        .render(&data, &funcs)
        .expect_err("upper rejects a number")
        .to_string();
    assert_eq!(
        err,
        r#"template: t:1:3: executing "t" at <upper>: error calling upper: upper wants one string"#
    );
}

#[test]
fn nomad_cli_job_list() {
    let data = r#"[{"ID":"web","Status":"running","JobSummary":{"Summary":{"web":{"Running":2}}}},
                   {"ID":"db","Status":"pending","JobSummary":{"Summary":{"db":{"Running":0},"backup":{"Running":1}}}}]"#;
    check(&[
        (r#"{{range .}}{{.ID}} {{.Status}}{{"\n"}}{{end}}"#, data, "web running\ndb pending\n"),
        (
            "{{range .}}{{range $g, $s := .JobSummary.Summary}}{{$g}}={{$s.Running}} {{end}}{{end}}",
            data,
            "web=2 backup=1 db=0 ",
        ),
        ("{{range .}}{{.ID}}{{end}}", data, "webdb"),
        ("{{len .}} jobs, first {{(index . 0).ID}}", data, "2 jobs, first web"),
    ]);
}

#[test]
fn api_types_are_shareable() {
    fn shareable<T: Send + Sync + Clone + std::fmt::Debug>() {}
    shareable::<Template>();
    shareable::<Funcs>();
    shareable::<TemplateError>();
    assert!(format!("{:?}", Funcs::default()).contains("\"printf\""));
}

/// Random sequences of template fragments must parse or fail cleanly, never panic.
#[test]
fn fuzz_fragments_never_panic() {
    const FRAGMENTS: [&str; 48] = [
        "{{",
        "}}",
        "{{-",
        "-}}",
        " ",
        "\n",
        "text",
        ".",
        ".A",
        ".A.B",
        "$",
        "$x",
        "$x :=",
        "=",
        ":=",
        "|",
        "(",
        ")",
        "\"s\"",
        "`r`",
        "'c'",
        "1",
        "-2.5e3",
        "0x1f",
        "nil",
        "true",
        "if",
        "else",
        "end",
        "range",
        "with",
        "define \"d\"",
        "template \"d\"",
        "block \"b\" .",
        "break",
        "continue",
        "len",
        "index",
        "slice",
        "printf \"%d %s %v\"",
        "eq",
        "and",
        "or",
        "not",
        ",",
        "/*",
        "*/",
        "é",
    ];
    let data = json!({"A": {"B": [1, "two", null]}, "C": "s"});
    let funcs = Funcs::builtin();
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut rendered = 0;
    for _ in 0..600 {
        let n = 1 + next() % 14;
        let src: String = (0..n)
            .map(|_| FRAGMENTS[(next() % FRAGMENTS.len() as u64) as usize])
            .collect();
        if let Ok(t) = Template::parse("fuzz", &src) {
            let _ = t.render(&data, &funcs);
            rendered += 1;
        }
    }
    assert!(rendered > 0, "some random templates should be valid");
}

#[test]
fn custom_delimiters_replace_the_braces() {
    // Scenario: a template for a file that itself holds `{{ }}` (a Helm chart, another
    // template) picks `[[ ]]`: braces are plain text, and trim markers and comments work with
    // the new delimiters.
    let delims = super::Delims {
        left: "[[".into(),
        right: "]]".into(),
    };
    let funcs = Funcs::builtin();
    let render = |src: &str| {
        Template::parse_delims("t", src, &funcs, &delims)
            .and_then(|t| t.render(&json!({"Name": "web", "N": [1, 2]}), &funcs))
            .map_err(|e| e.to_string())
    };
    assert_eq!(
        render("{{ .Name }} = [[ .Name ]]").unwrap(),
        "{{ .Name }} = web"
    );
    assert_eq!(
        render("a  [[- /* note */ -]]  b [[ range .N ]]<[[ . ]]>[[ end ]]").unwrap(),
        "ab <1><2>"
    );
    let err = render("[[ .Name ").unwrap_err();
    assert!(err.contains("unclosed action"), "{err}");
}
