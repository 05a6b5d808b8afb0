//! Rendering of one `format` verb. Numbers print as Go's fmt prints the big.Float/big.Int
//! values cty hands it; strings are padded and truncated by grapheme cluster.

use super::args::{err, fmt_number, parse_number, to_str};
use super::encoding::to_json;
use super::FuncError;
use serde_json::{Number, Value};
use unicode_segmentation::UnicodeSegmentation;

/// One `%...` sequence as the format parser read it; `arg` is 1-based.
#[derive(Default)]
pub(super) struct Verb<'a> {
    pub(super) raw: &'a str,
    pub(super) offset: usize,
    pub(super) arg: usize,
    pub(super) mode: char,
    pub(super) zero: bool,
    pub(super) sharp: bool,
    pub(super) plus: bool,
    pub(super) minus: bool,
    pub(super) space: bool,
    pub(super) width: Option<usize>,
    pub(super) prec: Option<usize>,
}

pub(super) fn append(out: &mut String, v: &Verb, args: &[Value]) -> Result<(), FuncError> {
    let Some(arg) = args.get(v.arg - 1) else {
        return Err(err(format!(
            "not enough arguments for {:?} at {}: need index {} but have {} total",
            v.raw,
            v.offset,
            v.arg,
            args.len()
        )));
    };
    let unsupported = |why: &str| {
        err(format!(
            "unsupported value for {:?} at {}: {why}",
            v.raw, v.offset
        ))
    };
    if v.mode != 'v' && arg.is_null() {
        return Err(unsupported("null value cannot be formatted"));
    }
    match v.mode {
        'v' => {
            let text = match arg {
                Value::String(s) if !v.sharp => s.clone(),
                Value::Number(n) if !v.sharp => match n.as_f64() {
                    Some(x) if x < 0.0 => format!("-{}", fmt_float(-x, 'g', None)),
                    Some(x) => fmt_float(x, 'g', None),
                    None => fmt_number(n),
                },
                other => to_json(other),
            };
            out.push_str(&pad(v, text));
        }
        // cty writes bools without any padding.
        't' => out.push_str(match arg {
            Value::Bool(b) => {
                if *b {
                    "true"
                } else {
                    "false"
                }
            }
            Value::String(s) if s == "true" || s == "false" => s,
            _ => return Err(unsupported("bool required")),
        }),
        'b' | 'd' | 'o' | 'x' | 'X' | 'e' | 'E' | 'f' | 'g' | 'G' => {
            let n = match arg {
                Value::Number(n) => n.clone(),
                Value::String(s) => match parse_number(s) {
                    Some(Value::Number(n)) => n,
                    _ => return Err(unsupported("a number is required")),
                },
                _ => return Err(unsupported("a number is required")),
            };
            let x = n.as_f64().unwrap_or(0.0);
            let (prefix, body) = if matches!(v.mode, 'e' | 'E' | 'f' | 'g' | 'G') {
                ("", fmt_float(x.abs(), v.mode, v.prec))
            } else {
                fmt_int(&n, v.mode, v.sharp, v.prec)
                    .ok_or_else(|| unsupported("an integer is required"))?
            };
            out.push_str(&number_padding(v, prefix, &body, x < 0.0));
        }
        's' | 'q' => {
            let Some(mut text) = to_str(arg) else {
                return Err(unsupported("string required"));
            };
            if let Some(p) = v.prec.filter(|p| *p > 0) {
                text = text.graphemes(true).take(p).collect();
            }
            if v.mode == 'q' {
                text = to_json(&Value::String(text));
            }
            out.push_str(&pad(v, text));
        }
        m => {
            return Err(err(format!(
                "unsupported format verb '{m}' in {:?} at offset {}",
                v.raw, v.offset
            )))
        }
    }
    Ok(())
}

/// Width padding for %v, %s and %q, counted in grapheme clusters.
fn pad(v: &Verb, text: String) -> String {
    let Some(width) = v.width else { return text };
    let have = text.graphemes(true).count();
    if have >= width {
        return text;
    }
    let fill = (if v.zero { "0" } else { " " }).repeat(width - have);
    if v.minus {
        text + &fill
    } else {
        fill + &text
    }
}

/// Sign and width handling of Go's big.Int/big.Float Format: `[spaces][sign][prefix][zeros]
/// digits[spaces]`, where `prefix` is the `#` base marker of integers.
fn number_padding(v: &Verb, prefix: &str, body: &str, negative: bool) -> String {
    if prefix.is_empty() && body.is_empty() {
        // %.0d of zero prints nothing at all, as Go does.
        return String::new();
    }
    let sign = match (negative, v.plus, v.space) {
        (true, _, _) => "-",
        (false, true, _) => "+",
        (false, false, true) => " ",
        _ => "",
    };
    let is_int = matches!(v.mode, 'b' | 'd' | 'o' | 'x' | 'X');
    let used = sign.len() + prefix.len() + body.len();
    let fill = v.width.map_or(0, |w| w.saturating_sub(used));
    if v.minus {
        format!("{sign}{prefix}{body}{}", " ".repeat(fill))
    } else if v.zero && !(is_int && v.prec.is_some()) {
        format!("{sign}{prefix}{}{body}", "0".repeat(fill))
    } else {
        format!("{}{sign}{prefix}{body}", " ".repeat(fill))
    }
}

/// Significant decimal digits without trailing zeros, and the decimal point position:
/// the value is 0.d1d2d3... × 10^point. Zero is ("0", 1).
fn decimal(sci: &str) -> (String, i32) {
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let trimmed = digits.trim_end_matches('0');
    if trimmed.is_empty() {
        return ("0".to_string(), 1);
    }
    (trimmed.to_string(), exp.parse::<i32>().unwrap_or(0) + 1)
}

/// Go's exponent style: a sign and at least two digits.
fn go_exponent(sci: &str, e: char) -> String {
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}{e}{sign}{:02}", exp.unsigned_abs())
}

fn from_digits_e(digits: &str, point: i32, e: char) -> String {
    let (first, rest) = digits.split_at(1);
    let dot = if rest.is_empty() { "" } else { "." };
    go_exponent(&format!("{first}{dot}{rest}e{}", point - 1), e)
}

fn from_digits_f(digits: &str, point: i32, decimals: usize) -> String {
    let d = digits.as_bytes();
    let at = |i: i64| -> char {
        usize::try_from(i)
            .ok()
            .and_then(|i| d.get(i))
            .map_or('0', |b| char::from(*b))
    };
    let mut out: String = if point <= 0 {
        "0".to_string()
    } else {
        (0..i64::from(point)).map(at).collect()
    };
    if decimals > 0 {
        out.push('.');
        out.extend((0..decimals as i64).map(|i| at(i64::from(point) + i)));
    }
    out
}

/// %e %E %f %g %G of a non-negative finite value; `prec` None is Go's default (6 for e/f,
/// shortest representation for g).
fn fmt_float(x: f64, mode: char, prec: Option<usize>) -> String {
    let upper = mode.is_ascii_uppercase();
    let e = if upper { 'E' } else { 'e' };
    match mode {
        'e' | 'E' => go_exponent(&format!("{:.*e}", prec.unwrap_or(6), x), e),
        'f' => format!("{:.*}", prec.unwrap_or(6), x),
        _ => {
            let (digits, point) = match prec {
                None => decimal(&format!("{x:e}")),
                Some(p) => decimal(&format!("{:.*e}", p.max(1) - 1, x)),
            };
            let nd = i32::try_from(digits.len()).unwrap_or(i32::MAX);
            // When %e is chosen, as strconv's 'g' decides it.
            let eprec = match prec {
                None => 6,
                Some(p) => {
                    let p = i32::try_from(p.max(1)).unwrap_or(i32::MAX);
                    if p > nd && nd >= point {
                        nd
                    } else {
                        p
                    }
                }
            };
            let exp = point - 1;
            if exp < -4 || exp >= eprec {
                return from_digits_e(&digits, point, e);
            }
            let shown = match prec {
                Some(p) if i32::try_from(p.max(1)).unwrap_or(i32::MAX) <= point => {
                    i32::try_from(p.max(1)).unwrap_or(i32::MAX)
                }
                _ => nd,
            };
            from_digits_f(&digits, point, usize::try_from(shown - point).unwrap_or(0))
        }
    }
}

/// Digits of a whole f64 too large for u128, in a power-of-two base: the mantissa's bits
/// followed by the exponent's zeros, regrouped.
fn pow2_digits(x: f64, bits_per_digit: usize, upper: bool) -> String {
    let bits = x.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as usize;
    let mantissa = (bits & ((1 << 52) - 1)) | (1 << 52);
    let mut binary = format!("{mantissa:b}");
    binary.extend(std::iter::repeat_n('0', exponent.saturating_sub(1075)));
    let pad = (bits_per_digit - binary.len() % bits_per_digit) % bits_per_digit;
    let binary = "0".repeat(pad) + &binary;
    let table = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    binary
        .as_bytes()
        .chunks(bits_per_digit)
        .map(|chunk| {
            let v = chunk
                .iter()
                .fold(0usize, |acc, b| acc * 2 + usize::from(*b == b'1'));
            char::from(table[v])
        })
        .collect()
}

/// %b %d %o %x %X of a whole number: the `#` prefix and the zero-padded digits, or None when
/// the number has a fractional part.
fn fmt_int(
    n: &Number,
    mode: char,
    sharp: bool,
    prec: Option<usize>,
) -> Option<(&'static str, String)> {
    let magnitude: Option<u128> = if let Some(i) = n.as_i64() {
        Some(u128::from(i.unsigned_abs()))
    } else if let Some(u) = n.as_u64() {
        Some(u128::from(u))
    } else {
        let f = n.as_f64()?.abs();
        if f.fract() != 0.0 || !f.is_finite() {
            return None;
        }
        (f < 1.7e38).then_some(f as u128)
    };
    let digits = match (magnitude, mode) {
        (Some(m), 'b') => format!("{m:b}"),
        (Some(m), 'o') => format!("{m:o}"),
        (Some(m), 'x') => format!("{m:x}"),
        (Some(m), 'X') => format!("{m:X}"),
        (Some(m), _) => m.to_string(),
        (None, mode) => {
            let f = n.as_f64()?.abs();
            match mode {
                'b' => pow2_digits(f, 1, false),
                'o' => pow2_digits(f, 3, false),
                'x' => pow2_digits(f, 4, false),
                'X' => pow2_digits(f, 4, true),
                _ => format!("{f:.0}"),
            }
        }
    };
    if prec == Some(0) && digits == "0" {
        return Some(("", String::new()));
    }
    let zeros = prec.map_or(0, |p| p.saturating_sub(digits.len()));
    let prefix = match (sharp, mode) {
        (true, 'b') => "0b",
        (true, 'o') => "0",
        (true, 'x') => "0x",
        (true, 'X') => "0X",
        _ => "",
    };
    Some((prefix, "0".repeat(zeros) + &digits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_like_go() {
        assert_eq!(fmt_float(1000.0, 'e', None), "1.000000e+03");
        assert_eq!(fmt_float(1.5e-300, 'E', Some(2)), "1.50E-300");
        assert_eq!(fmt_float(1.23456, 'f', Some(2)), "1.23");
        assert_eq!(fmt_float(0.0, 'e', None), "0.000000e+00");
        assert_eq!(fmt_float(1_000_000.0, 'g', None), "1e+06");
        assert_eq!(fmt_float(123_456.0, 'g', None), "123456");
        assert_eq!(fmt_float(0.0001, 'g', None), "0.0001");
        assert_eq!(fmt_float(0.00001, 'g', None), "1e-05");
        assert_eq!(fmt_float(100.0, 'g', Some(2)), "1e+02");
        assert_eq!(fmt_float(1.0, 'g', Some(0)), "1");
        assert_eq!(fmt_float(0.5, 'g', Some(3)), "0.5");
        assert_eq!(fmt_float(123.456, 'g', Some(5)), "123.46");
        assert_eq!(fmt_float(0.0, 'g', Some(3)), "0");
    }

    #[test]
    fn integers_like_go() {
        let n = |v: f64| serde_json::Number::from_f64(v).expect("finite");
        assert_eq!(
            fmt_int(&Number::from(-255), 'x', true, None),
            Some(("0x", "ff".into()))
        );
        assert_eq!(
            fmt_int(&Number::from(5), 'd', false, Some(3)),
            Some(("", "005".into()))
        );
        assert_eq!(
            fmt_int(&Number::from(0), 'd', false, Some(0)),
            Some(("", String::new()))
        );
        assert_eq!(fmt_int(&n(1.5), 'd', false, None), None);
        assert_eq!(
            fmt_int(&n(2f64.powi(130)), 'x', false, None),
            Some(("", format!("4{}", "0".repeat(32))))
        );
        assert_eq!(
            fmt_int(&n(2f64.powi(130)), 'b', false, None),
            Some(("", format!("1{}", "0".repeat(130))))
        );
        assert_eq!(
            fmt_int(&n(1e40), 'd', false, None),
            Some(("", "10000000000000000303786028427003666890752".into()))
        );
    }
}
