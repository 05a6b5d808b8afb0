//! Version comparison for the `version` and `semver` constraint operators.
//!
//! Constraints look like ">= 1.2, < 3.0.0" or "~> 1.4"; versions like "1.7.2", "v2.0.0-beta1" or
//! kernel releases such as "5.10.0-28-amd64". `version` is lenient: when the constraint names no
//! pre-release, the version's pre-release suffix is ignored, so a Debian kernel "5.10.0-28-amd64"
//! satisfies ">= 5.10". `semver` orders pre-releases strictly (1.0.0-rc1 < 1.0.0).

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    segments: Vec<u64>,
    /// How many segments were written (for `~>`).
    written: usize,
    pre: String,
}

impl Version {
    pub fn parse(s: &str) -> Option<Version> {
        let s = s.trim();
        let s = s.strip_prefix('v').unwrap_or(s);
        // Build metadata never takes part in comparisons.
        let s = s.split('+').next().unwrap_or(s);
        let (core, pre) = match s.find('-') {
            Some(i) => (&s[..i], &s[i + 1..]),
            None => (s, ""),
        };
        if core.is_empty() {
            return None;
        }
        let mut segments = Vec::with_capacity(3);
        for part in core.split('.') {
            segments.push(part.parse::<u64>().ok()?);
        }
        let written = segments.len();
        while segments.len() < 3 {
            segments.push(0);
        }
        Some(Version {
            segments,
            written,
            pre: pre.to_string(),
        })
    }

    fn cmp_core(&self, other: &Version) -> Ordering {
        let n = self.segments.len().max(other.segments.len());
        for i in 0..n {
            let a = self.segments.get(i).copied().unwrap_or(0);
            let b = other.segments.get(i).copied().unwrap_or(0);
            match a.cmp(&b) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        Ordering::Equal
    }

    /// Full ordering: a pre-release sorts before its release.
    pub fn cmp_strict(&self, other: &Version) -> Ordering {
        self.cmp_core(other)
            .then_with(|| cmp_pre(&self.pre, &other.pre))
    }
}

fn cmp_pre(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => {
            let mut ia = a.split('.');
            let mut ib = b.split('.');
            loop {
                match (ia.next(), ib.next()) {
                    (None, None) => return Ordering::Equal,
                    (None, Some(_)) => return Ordering::Less,
                    (Some(_), None) => return Ordering::Greater,
                    (Some(x), Some(y)) => {
                        let o = match (x.parse::<u64>(), y.parse::<u64>()) {
                            (Ok(nx), Ok(ny)) => nx.cmp(&ny),
                            (Ok(_), Err(_)) => Ordering::Less,
                            (Err(_), Ok(_)) => Ordering::Greater,
                            (Err(_), Err(_)) => x.cmp(y),
                        };
                        if o != Ordering::Equal {
                            return o;
                        }
                    }
                }
            }
        }
    }
}

/// Whether `version` satisfies every comma-separated clause of `constraint`. `strict` selects
/// semver ordering of pre-releases. Unparsable input never matches.
pub fn matches(version: &str, constraint: &str, strict: bool) -> bool {
    let Some(v) = Version::parse(version) else {
        return false;
    };
    let mut any = false;
    for clause in constraint.split(',') {
        let clause = clause.trim();
        if clause.is_empty() {
            continue;
        }
        any = true;
        if !clause_matches(&v, clause, strict) {
            return false;
        }
    }
    any
}

fn clause_matches(v: &Version, clause: &str, strict: bool) -> bool {
    let ops = ["~>", ">=", "<=", "!=", "==", ">", "<", "="];
    let (op, rest) = ops
        .iter()
        .find_map(|op| clause.strip_prefix(op).map(|r| (*op, r)))
        .unwrap_or(("=", clause));
    let Some(c) = Version::parse(rest) else {
        return false;
    };
    // Lenient mode: a constraint without pre-release compares release cores only.
    let ord = if !strict && c.pre.is_empty() {
        v.cmp_core(&c)
    } else {
        v.cmp_strict(&c)
    };
    match op {
        "=" | "==" => ord == Ordering::Equal,
        "!=" => ord != Ordering::Equal,
        ">" => ord == Ordering::Greater,
        ">=" => ord != Ordering::Less,
        "<" => ord == Ordering::Less,
        "<=" => ord != Ordering::Greater,
        "~>" => {
            if ord == Ordering::Less {
                return false;
            }
            // Upper bound: bump the second-to-last written segment, zero the rest.
            let keep = c.written.saturating_sub(1).max(1);
            let mut upper = c.segments.clone();
            upper[keep - 1] += 1;
            for s in upper.iter_mut().skip(keep) {
                *s = 0;
            }
            let upper = Version {
                segments: upper,
                written: c.written,
                pre: String::new(),
            };
            v.cmp_core(&upper) == Ordering::Less
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn version_table() {
        let cases = [
            ("1.2.3", ">= 1.2, < 3.0.0", true),
            ("3.0.0", ">= 1.2, < 3.0.0", false),
            ("5.10.0-28-amd64", ">= 4.0", true),
            ("5.10.0-28-amd64", ">= 1.2, < 3.0.0", false),
            ("5.10.0-28-amd64", "= 5.10", true),
            ("v1.4.0", "~> 1.4", true),
            ("1.9.9", "~> 1.4", true),
            ("2.0.0", "~> 1.4", false),
            ("1.4.9", "~> 1.4.2", true),
            ("1.5.0", "~> 1.4.2", false),
            ("1.2", "1.2.0", true),
            ("1.2", "!= 1.2.0", false),
            ("garbage", ">= 1", false),
            ("1.0.0", "", false),
        ];
        for (v, c, want) in cases {
            assert_eq!(matches(v, c, false), want, "{v} against {c}");
        }
    }

    #[test]
    fn semver_orders_prereleases() {
        assert!(matches("1.0.0-rc1", "< 1.0.0", true));
        assert!(!matches("1.0.0-rc1", ">= 1.0.0", true));
        assert!(matches("1.0.0-rc.2", "> 1.0.0-rc.1", true));
        assert!(matches("1.0.0-beta", ">= 1.0.0-alpha", true));
    }
}
