//! Text layout shared by all commands: Nomad-style aligned tables and `key = value` blocks, time
//! stamps, relative ages and byte sizes. Pure functions, so the output can be tested.

/// Aligns rows into columns separated by two spaces, like Nomad's tables (the first row is the
/// header). Trailing blanks are trimmed so the last column is not padded.
pub fn table(rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            let w = cell.chars().count();
            match widths.get_mut(i) {
                Some(cur) => *cur = (*cur).max(w),
                None => widths.push(w),
            }
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i] - cell.chars().count() + 2;
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Builds a table from a header and rows of displayable cells.
pub fn table_with(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut all = vec![header.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
    all.extend(rows);
    table(&all)
}

/// `key = value` lines with the `=` aligned, as Nomad prints object headers.
pub fn kv(pairs: &[(&str, String)]) -> String {
    let width = pairs
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (k, v) in pairs {
        let line = format!("{k:<width$} = {v}");
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A map's entries as [`kv`] lines (meta, attributes, variable items).
pub fn kv_map(map: &std::collections::BTreeMap<String, String>) -> String {
    let pairs: Vec<(&str, String)> = map.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    kv(&pairs)
}

/// Nomad prints "<none>" for empty strings in headers.
pub fn or_none(s: &str) -> String {
    if s.is_empty() {
        "<none>".to_string()
    } else {
        s.to_string()
    }
}

/// The first 8 characters of an id unless `verbose` asks for the full one.
pub fn id(s: &str, verbose: bool) -> String {
    if verbose {
        s.to_string()
    } else {
        api::short_id(s).to_string()
    }
}

pub use api::time::now_nanos;

/// RFC 3339 in UTC ("2024-01-01T10:00:00Z") from Unix nanoseconds; "N/A" for zero.
pub fn rfc3339(nanos: i64) -> String {
    if nanos == 0 {
        return "N/A".to_string();
    }
    api::time::rfc3339_secs(nanos)
}

/// A time stamp for monitor lines: now, RFC 3339.
pub fn now_stamp() -> String {
    rfc3339(now_nanos())
}

/// How long ago `then` was, relative to `now` (both Unix nanoseconds), in Nomad's short form:
/// "10s ago", "2m30s ago", "3h2m ago", "1d2h ago"; future times read "10s from now".
pub fn ago(then: i64, now: i64) -> String {
    if then == 0 {
        return "N/A".to_string();
    }
    let diff = now - then;
    let secs = ((diff.abs() + 500_000_000) / 1_000_000_000) as u64;
    let units = [
        (secs / 86_400, "d"),
        ((secs % 86_400) / 3600, "h"),
        ((secs % 3600) / 60, "m"),
        (secs % 60, "s"),
    ];
    // The largest non-zero unit and, when not zero, the next one: precise enough to read.
    let first = units.iter().position(|(v, _)| *v > 0).unwrap_or(3);
    let mut text = format!("{}{}", units[first].0, units[first].1);
    if let Some((v, u)) = units.get(first + 1) {
        if *v > 0 {
            text.push_str(&format!("{v}{u}"));
        }
    }
    if diff >= 0 {
        format!("{text} ago")
    } else {
        format!("{text} from now")
    }
}

/// Byte counts in binary units like Nomad's ("300 MiB", "1.9 GiB").
pub fn ibytes(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 10 {
        return format!("{bytes} B");
    }
    let exp = ((bytes as f64).ln() / 1024f64.ln()).floor() as usize;
    let exp = exp.min(UNITS.len() - 1);
    let val = bytes as f64 / 1024f64.powi(exp as i32);
    if val < 10.0 {
        format!("{val:.1} {}", UNITS[exp])
    } else {
        format!("{val:.0} {}", UNITS[exp])
    }
}

pub fn mib(mb: i64) -> String {
    ibytes((mb.max(0) as u64) * 1024 * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn table_aligns_with_two_spaces_and_no_trailing_blanks() {
        let out = table(&[
            s(&["ID", "Type", "Priority", "Status"]),
            s(&["example", "service", "50", "running"]),
            s(&["a", "batch", "100", ""]),
        ]);
        assert_eq!(
            out,
            "ID       Type     Priority  Status\n\
             example  service  50        running\n\
             a        batch    100\n"
        );
    }

    #[test]
    fn kv_aligns_equals() {
        let out = kv(&[("ID", "example".into()), ("Submit Date", "x".into())]);
        assert_eq!(out, "ID          = example\nSubmit Date = x\n");
    }

    #[test]
    fn rfc3339_in_utc() {
        assert_eq!(
            rfc3339(1_704_103_200 * 1_000_000_000),
            "2024-01-01T10:00:00Z"
        );
        assert_eq!(rfc3339(951_782_400 * 1_000_000_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(0), "N/A");
    }

    #[test]
    fn relative_times_read_like_nomad() {
        let now = 1_000_000 * 1_000_000_000;
        let sec = 1_000_000_000;
        assert_eq!(ago(now - 10 * sec, now), "10s ago");
        assert_eq!(ago(now - 150 * sec, now), "2m30s ago");
        assert_eq!(ago(now - (3 * 3600 + 2 * 60 + 50) * sec, now), "3h2m ago");
        assert_eq!(ago(now - 26 * 3600 * sec, now), "1d2h ago");
        assert_eq!(ago(now - 3600 * sec, now), "1h ago");
        assert_eq!(ago(now, now), "0s ago");
        assert_eq!(ago(now + 11 * sec, now), "11s from now");
        assert_eq!(ago(0, now), "N/A");
    }

    #[test]
    fn bytes_in_binary_units() {
        assert_eq!(mib(300), "300 MiB");
        assert_eq!(mib(1946), "1.9 GiB");
        assert_eq!(ibytes(5), "5 B");
    }
}
