//! Go's `fmt` printing (`%v`, `Sprint`, `Sprintln`, `Sprintf`) applied to JSON values, so output
//! matches what Go prints for the equivalent decoded values.

use serde_json::{Number, Value};

/// A JSON number as Go would hold it: integers stay integers.
#[derive(Clone, Copy, Debug)]
pub(super) enum Num {
    Int(i128),
    Float(f64),
}

impl Num {
    pub fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

pub(super) fn num(n: &Number) -> Num {
    if let Some(i) = n.as_i64() {
        Num::Int(i128::from(i))
    } else if let Some(u) = n.as_u64() {
        Num::Int(i128::from(u))
    } else {
        Num::Float(n.as_f64().unwrap_or(0.0))
    }
}

/// The Go type a JSON value stands for, as `%T` and error messages name it.
pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(n) if n.is_i64() => "int",
        Value::Number(_) => "uint64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// Approximates Go's `unicode.IsPrint` for non-ASCII characters: controls, non-ASCII spaces and
/// the common invisible format characters are not printable.
pub(super) fn printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c, '\u{AD}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}'))
}

/// Flags, width and precision of one `%` directive.
#[derive(Clone, Copy, Default)]
pub(super) struct Spec {
    pub(super) minus: bool,
    pub(super) plus: bool,
    pub(super) sharp: bool,
    pub(super) zero: bool,
    pub(super) space: bool,
    /// `%#v`: Go-syntax representation.
    pub(super) sharp_v: bool,
    pub(super) width: Option<usize>,
    pub(super) prec: Option<usize>,
}

/// Go's `%v`.
pub(super) fn value_string(v: &Value) -> String {
    let mut out = String::new();
    fmt_arg(&mut out, v, 'v', Spec::default(), false);
    out
}

/// Go's `fmt.Sprint`: a space goes between operands when neither is a string.
pub(super) fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        let prev_string = i > 0 && args.get(i - 1).is_some_and(Value::is_string);
        if i > 0 && !a.is_string() && !prev_string {
            out.push(' ');
        }
        fmt_arg(&mut out, a, 'v', Spec::default(), false);
    }
    out
}

/// Go's `fmt.Sprintln`: always spaces between operands, and a final newline.
pub(super) fn sprintln(args: &[Value]) -> String {
    let parts: Vec<String> = args.iter().map(value_string).collect();
    parts.join(" ") + "\n"
}

/// `type=value`, or `<nil>`, as Go's error notation shows an argument.
pub(super) fn typed(out: &mut String, v: &Value) {
    if v.is_null() {
        out.push_str("<nil>");
    } else {
        out.push_str(type_name(v));
        out.push('=');
        fmt_arg(out, v, 'v', Spec::default(), false);
    }
}

fn bad_verb(out: &mut String, verb: char, v: &Value) {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    typed(out, v);
    out.push(')');
}

/// Pads to the width with spaces (numbers have applied zero padding already).
pub(super) fn pad(out: &mut String, s: &str, spec: Spec) {
    let fill = spec.width.unwrap_or(0).saturating_sub(s.chars().count());
    if !spec.minus {
        out.extend(std::iter::repeat_n(' ', fill));
    }
    out.push_str(s);
    if spec.minus {
        out.extend(std::iter::repeat_n(' ', fill));
    }
}

/// Formats one argument; `nested` is set for elements of arrays and objects.
pub(super) fn fmt_arg(out: &mut String, v: &Value, verb: char, mut spec: Spec, nested: bool) {
    if verb == 'T' {
        return pad(out, type_name(v), spec);
    }
    if verb == 'v' {
        // `%+v` only adds field names in Go, which JSON values have none of to add.
        spec.plus = false;
        spec.sharp_v |= std::mem::take(&mut spec.sharp);
    }
    match v {
        Value::Null if nested => out.push_str("<nil>"),
        Value::Null if verb == 'v' => pad(out, "<nil>", spec),
        Value::Bool(b) if matches!(verb, 'v' | 't') => {
            pad(out, if *b { "true" } else { "false" }, spec)
        }
        Value::Number(n) => match num(n) {
            Num::Int(i) => fmt_int(out, i, verb, spec, v),
            Num::Float(f) => fmt_float(out, f, verb, spec, v),
        },
        Value::String(s) => fmt_str(out, s, verb, spec, v),
        Value::Array(a) => {
            out.push_str(if spec.sharp_v { "[]interface {}{" } else { "[" });
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(if spec.sharp_v { ", " } else { " " });
                }
                fmt_arg(out, e, verb, spec, true);
            }
            out.push(if spec.sharp_v { '}' } else { ']' });
        }
        Value::Object(m) => {
            let mut entries: Vec<_> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push_str(if spec.sharp_v {
                "map[string]interface {}{"
            } else {
                "map["
            });
            for (i, (k, e)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(if spec.sharp_v { ", " } else { " " });
                }
                fmt_str(out, k, verb, spec, &Value::String(k.clone()));
                out.push(':');
                fmt_arg(out, e, verb, spec, true);
            }
            out.push(if spec.sharp_v { '}' } else { ']' });
        }
        _ => bad_verb(out, verb, v),
    }
}

fn fmt_int(out: &mut String, i: i128, verb: char, spec: Spec, orig: &Value) {
    match verb {
        'v' | 'd' => integer(out, i, 10, verb, spec),
        'b' | 'o' | 'O' | 'x' | 'X' => integer(
            out,
            i,
            if verb == 'b' {
                2
            } else if matches!(verb, 'x' | 'X') {
                16
            } else {
                8
            },
            verb,
            spec,
        ),
        'c' | 'q' | 'U' => {
            let c = u32::try_from(i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            let s = match verb {
                'c' => c.to_string(),
                'q' => quote(&c.to_string(), '\'', spec.plus),
                _ if spec.sharp => format!("U+{:04X} '{c}'", u32::from(c)),
                _ => format!("U+{:04X}", u32::from(c)),
            };
            pad(out, &s, spec);
        }
        // JSON cannot say whether a whole number was a float; Go's struct field would have.
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' => fmt_float(out, i as f64, verb, spec, orig),
        _ => bad_verb(out, verb, orig),
    }
}

fn integer(out: &mut String, i: i128, base: u32, verb: char, spec: Spec) {
    let mag = i.unsigned_abs();
    let mut digits = match base {
        2 => format!("{mag:b}"),
        8 => format!("{mag:o}"),
        16 if verb == 'X' => format!("{mag:X}"),
        16 => format!("{mag:x}"),
        _ => mag.to_string(),
    };
    let sign = if i < 0 {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    // Two ways to ask for leading zeros: %.3d (minimum digits) or %03d (fill the width).
    let min_digits = match (spec.prec, spec.width) {
        (Some(0), _) if mag == 0 => {
            digits.clear();
            0
        }
        (Some(p), _) => p,
        (None, Some(w)) if spec.zero && !spec.minus => w.saturating_sub(sign.len()),
        _ => 0,
    };
    if digits.len() < min_digits {
        digits = "0".repeat(min_digits - digits.len()) + &digits;
    }
    let prefix = match (base, spec.sharp, verb) {
        (8, _, 'O') => "0o",
        (8, true, _) if !digits.starts_with('0') => "0",
        (16, true, 'X') => "0X",
        (16, true, _) => "0x",
        (2, true, _) => "0b",
        _ => "",
    };
    pad(out, &format!("{sign}{prefix}{digits}"), spec);
}

fn fmt_float(out: &mut String, f: f64, verb: char, spec: Spec, orig: &Value) {
    let abs = f.abs();
    let body = match verb {
        'v' | 'g' | 'G' => shortest_or_g(abs, spec.prec),
        'e' | 'E' => exponent(abs, spec.prec.unwrap_or(6)),
        'f' | 'F' => format!("{:.*}", spec.prec.unwrap_or(6), abs),
        'd' if f.fract() == 0.0 && abs < 9.0e18 => return integer(out, f as i128, 10, verb, spec),
        _ => return bad_verb(out, verb, orig),
    };
    let body = if matches!(verb, 'E' | 'G') {
        body.to_uppercase()
    } else {
        body
    };
    let sign = if f.is_sign_negative() {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    let len = sign.len() + body.len();
    match spec.width {
        Some(w) if spec.zero && !spec.minus && w > len => {
            out.push_str(sign);
            out.push_str(&"0".repeat(w - len));
            out.push_str(&body);
        }
        _ => pad(out, &format!("{sign}{body}"), spec),
    }
}

/// Go's exponent form: `d.ddde+XX`, at least two exponent digits.
fn exponent(f: f64, prec: usize) -> String {
    let s = format!("{f:.prec$e}");
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    format!(
        "{mant}e{}{:02}",
        if exp < 0 { '-' } else { '+' },
        exp.unsigned_abs()
    )
}

/// Go's `%g`/`%v` for a non-negative float: shortest round-trip digits (or `prec` significant
/// digits), in exponent form when the exponent is < -4 or >= the precision (6 for shortest).
fn shortest_or_g(f: f64, prec: Option<usize>) -> String {
    let sci = match prec {
        Some(p) => format!("{f:.*e}", p.max(1) - 1),
        None => format!("{f:e}"),
    };
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let mut digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    let nd = digits.len() as i64;
    let dp = exp + 1;
    let eprec = match prec {
        None => 6,
        Some(p) => {
            let p = p.max(1) as i64;
            if p > nd && nd >= dp {
                nd
            } else {
                p
            }
        }
    };
    if f == 0.0 {
        return "0".into();
    }
    if exp < -4 || exp >= eprec {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        return format!(
            "{first}{dot}{rest}e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.unsigned_abs()
        );
    }
    if dp <= 0 {
        format!("0.{}{digits}", "0".repeat(dp.unsigned_abs() as usize))
    } else if dp >= nd {
        format!("{digits}{}", "0".repeat((dp - nd) as usize))
    } else {
        let (int, frac) = digits.split_at(dp as usize);
        format!("{int}.{frac}")
    }
}

fn fmt_str(out: &mut String, s: &str, verb: char, spec: Spec, orig: &Value) {
    let cut = |s: &str| match spec.prec {
        Some(p) => s.chars().take(p).collect::<String>(),
        None => s.to_string(),
    };
    match verb {
        'v' if spec.sharp_v => pad(out, &quote(s, '"', false), spec),
        'v' | 's' => pad(out, &cut(s), spec),
        'q' if spec.sharp
            && !s.contains('`')
            && s.chars().all(|c| c == '\t' || !c.is_control()) =>
        {
            pad(out, &format!("`{}`", cut(s)), spec)
        }
        'q' => pad(out, &quote(&cut(s), '"', spec.plus), spec),
        'x' | 'X' => {
            let bytes = cut(s).into_bytes();
            let mut hex = String::new();
            for (i, b) in bytes.iter().enumerate() {
                if spec.space && i > 0 {
                    hex.push(' ');
                }
                if spec.sharp && (spec.space || i == 0) {
                    hex.push_str(if verb == 'X' { "0X" } else { "0x" });
                }
                hex.push_str(&if verb == 'X' {
                    format!("{b:02X}")
                } else {
                    format!("{b:02x}")
                });
            }
            pad(out, &hex, spec)
        }
        _ => bad_verb(out, verb, orig),
    }
}

/// Go's `strconv.Quote` (or `QuoteRune` with `'`); `ascii` escapes all non-ASCII, as `%+q`.
fn quote(s: &str, q: char, ascii: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        match c {
            c if c == q || c == '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            c if !c.is_ascii() && !ascii && printable(c) => out.push(c),
            c if u32::from(c) < 0x80 => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c if u32::from(c) <= 0xFFFF => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push_str(&format!("\\U{:08x}", u32::from(c))),
        }
    }
    out.push(q);
    out
}
