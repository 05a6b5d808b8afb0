//! Go's `fmt.Sprintf` directive parsing: flags, width, precision, verb, and the in-band
//! notation Go prints for missing, extra and bad arguments.

use serde_json::Value;

use super::gofmt::{fmt_arg, typed, Spec};

/// Go refuses widths and precisions beyond this rather than allocate for them.
const TOO_LARGE: usize = 1_000_000;

fn digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<usize> {
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        chars.next();
        n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize));
    }
    n
}

/// `*` width or precision: the next argument, which must be an integer.
fn star(args: &[Value], argi: &mut usize) -> Option<i64> {
    let v = args.get(*argi)?.as_i64()?;
    *argi += 1;
    Some(v)
}

/// Go's `fmt.Sprintf`, with its in-band error notation (`%!d(string=x)`, `%!v(MISSING)`, ...).
pub(super) fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::with_capacity(format.len());
    let mut argi = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '#' => spec.sharp = true,
                '0' => spec.zero = !spec.minus,
                '+' => spec.plus = true,
                '-' => {
                    spec.minus = true;
                    spec.zero = false;
                }
                ' ' => spec.space = true,
                _ => break,
            }
            chars.next();
        }
        if chars.peek() == Some(&'*') {
            chars.next();
            match star(args, &mut argi) {
                Some(w) if w.unsigned_abs() <= TOO_LARGE as u64 => {
                    if w < 0 {
                        spec.minus = true;
                        spec.zero = false;
                    }
                    spec.width = usize::try_from(w.unsigned_abs()).ok();
                }
                _ => out.push_str("%!(BADWIDTH)"),
            }
        } else if let Some(w) = digits(&mut chars) {
            if w > TOO_LARGE {
                out.push_str("%!(BADWIDTH)");
            } else {
                spec.width = Some(w);
            }
        }
        if chars.peek() == Some(&'.') {
            chars.next();
            if chars.peek() == Some(&'*') {
                chars.next();
                match star(args, &mut argi) {
                    Some(p) if p < 0 => {}
                    Some(p) if p as u64 <= TOO_LARGE as u64 => spec.prec = usize::try_from(p).ok(),
                    _ => out.push_str("%!(BADPREC)"),
                }
            } else {
                let p = digits(&mut chars).unwrap_or(0);
                if p > TOO_LARGE {
                    out.push_str("%!(BADPREC)");
                } else {
                    spec.prec = Some(p);
                }
            }
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.get(argi) {
            Some(arg) => {
                argi += 1;
                fmt_arg(&mut out, arg, verb, spec, false);
            }
            None => out.push_str(&format!("%!{verb}(MISSING)")),
        }
    }
    if let Some(extra) = args.get(argi..).filter(|e| !e.is_empty()) {
        out.push_str("%!(EXTRA ");
        for (i, a) in extra.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            typed(&mut out, a);
        }
        out.push(')');
    }
    out
}
