//! Output formatting tests: Go's `%v` for JSON values, the print family and printf verbs.

use serde_json::json;

use super::tests::check;

#[test]
fn value_formatting_like_go_percent_v() {
    check(&[
        ("{{.}}", "1.5", "1.5"),
        ("{{.}}", "1e21", "1e+21"),
        ("{{.}}", "1000000.0", "1e+06"),
        ("{{.}}", "100000.0", "100000"),
        ("{{.}}", "0.0001", "0.0001"),
        ("{{.}}", "0.00001", "1e-05"),
        ("{{.}}", "2.0", "2"),
        ("{{.}}", "123456789.0", "1.23456789e+08"),
        ("{{.}}", "-0.5", "-0.5"),
        ("{{.}}", "0.1", "0.1"),
        ("{{.}}", "12345678901234", "12345678901234"),
        ("{{.}}", "-7", "-7"),
        ("{{.}}", "true", "true"),
        ("{{.}}", "null", "<nil>"),
        (
            "{{.}}",
            r#"["a",1,null,true,[2],{"k":"v"}]"#,
            "[a 1 <nil> true [2] map[k:v]]",
        ),
        (
            "{{.}}",
            r#"{"b":1,"a":"x","c":{"z":[]}}"#,
            "map[a:x b:1 c:map[z:[]]]",
        ),
        ("{{.}}", "[]", "[]"),
        ("{{.}}", "{}", "map[]"),
    ]);
}

#[test]
fn print_family() {
    check(&[
        (r#"{{print 1 2 "a" 3 "b" "c"}}"#, "null", "1 2a3bc"),
        (r#"{{print}}"#, "null", ""),
        (r#"{{println 1 "a"}}"#, "null", "1 a\n"),
        (r#"{{print .}}"#, "[1,2]", "[1 2]"),
        (
            r#"{{html "<a href='x'>&\""}}"#,
            "null",
            "&lt;a href=&#39;x&#39;&gt;&amp;&#34;",
        ),
        (r#"{{html 1 2}}"#, "null", "1 2"),
        (
            r#"{{js "a'b\"<>&=\n\\"}}"#,
            "null",
            r#"a\'b\"\u003C\u003E\u0026\u003D\u000A\\"#,
        ),
        (
            r#"{{urlquery "a b&c=d/é~"}}"#,
            "null",
            "a+b%26c%3Dd%2F%C3%A9~",
        ),
        (r#"{{. | html}}"#, r#""<b>""#, "&lt;b&gt;"),
    ]);
}

#[test]
fn printf_verbs() {
    let p =
        |f: &str, args: &str, want: &'static str| (format!("{{{{printf {f:?} {args}}}}}"), want);
    let cases = [
        p("%s|%v|%d", r#""x" "y" 3"#, "x|y|3"),
        p("%q %q", r#""hi\n" 65"#, r#""hi\n" 'A'"#),
        p("%t %v", "true false", "true false"),
        p(
            "%f %.2f %8.3f|%-8.1f|",
            "3.14159265 3.14159265 2.5 2.5",
            "3.141593 3.14    2.500|2.5     |",
        ),
        p(
            "%x %X %x %#x %o %b",
            r#"255 255 "hi" 255 8 5"#,
            "ff FF 6869 0xff 10 101",
        ),
        p(
            "[%5s][%-5s][%.3s]",
            r#""ab" "ab" "abcdef""#,
            "[   ab][ab   ][abc]",
        ),
        p("%05d %+d %+v % d %.3d", "-42 5 5 7 7", "-0042 +5 5  7 007"),
        p(
            "%e %E %g %g %.3g",
            "1234.5678 0.5 0.0000001 100000 3.14159",
            "1.234568e+03 5.000000E-01 1e-07 100000 3.14",
        ),
        p("%c%c %U %#U", "72 105 65 233", "Hi U+0041 U+00E9 'é'"),
        p(
            "%T %T %T %T %T %T",
            r#"1 1.5 "s" true nil .A"#,
            "int float64 string bool <nil> []interface {}",
        ),
        p("100%%", "", "100%"),
        p(
            "%v %d %s",
            ".A .A .A",
            "[1 2] [1 2] [%!s(int=1) %!s(int=2)]",
        ),
        p(
            "%v %#v",
            ".M .M",
            r#"map[k:v] map[string]interface {}{"k":"v"}"#,
        ),
        p("%s %d", "5 \"x\"", "%!s(int=5) %!d(string=x)"),
        p("%d %d", "1", "1 %!d(MISSING)"),
        p("%d", "1 2 \"x\"", "1%!(EXTRA int=2, string=x)"),
        p("%z", "5", "%!z(int=5)"),
        p("%d %d", "2.0 2.5", "2 %!d(float64=2.5)"),
        p("%.1f %5.1f", "3 -2", "3.0  -2.0"),
        p("%s %v", "nil nil", "%!s(<nil>) <nil>"),
        p("%*d|%-*d|", "4 7 3 8", "   7|8  |"),
        p("%x", "-255", "-ff"),
        p("%6.2f|%06.2f", "3.14159 -3.14159", "  3.14|-03.14"),
        p("%", "", "%!(NOVERB)"),
    ];
    let data = json!({"A": [1, 2], "M": {"k": "v"}}).to_string();
    let rows: Vec<(&str, &str, &str)> = cases
        .iter()
        .map(|(s, w)| (s.as_str(), data.as_str(), *w))
        .collect();
    check(&rows);
}
