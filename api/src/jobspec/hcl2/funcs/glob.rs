//! The glob language of `fileset` (doublestar's): `*` and `?` within a path segment, `[...]`
//! classes, `{a,b}` alternatives, `\` escapes, and `**` as a whole segment for any number of
//! directories. Paths are '/'-separated strings.

use super::args::err;
use super::FuncError;
use std::fs;
use std::path::Path;

const MAX_ALTERNATIVES: usize = 1024;
/// Directory entries a single fileset call may look at.
const MAX_ENTRIES: usize = 1_000_000;

fn bad_pattern(p: &str) -> FuncError {
    err(format!("invalid glob pattern {p:?}"))
}

/// Expands `{a,b}` alternatives (nested ones too) into separate patterns.
pub(super) fn expand_braces(p: &str, out: &mut Vec<String>) -> Result<(), FuncError> {
    let b = p.as_bytes();
    let (mut depth, mut open, mut cuts) = (0usize, 0usize, Vec::new());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'{' => {
                if depth == 0 {
                    open = i;
                    cuts.clear();
                }
                depth += 1;
            }
            b',' if depth == 1 => cuts.push(i),
            b'}' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    let mut start = open + 1;
                    for end in cuts.iter().copied().chain([i]) {
                        let alt = format!("{}{}{}", &p[..open], &p[start..end], &p[i + 1..]);
                        expand_braces(&alt, out)?;
                        start = end + 1;
                    }
                    return Ok(());
                }
            }
            _ => {}
        }
        i += 1;
    }
    if depth > 0 {
        return Err(bad_pattern(p));
    }
    if out.len() >= MAX_ALTERNATIVES {
        return Err(err(format!(
            "glob pattern has more than {MAX_ALTERNATIVES} alternatives"
        )));
    }
    out.push(p.to_string());
    Ok(())
}

pub(super) fn has_meta(segment: &str) -> bool {
    segment.contains(['*', '?', '[', '\\'])
}

/// A `[...]` class at `p[at]`: whether `c` is in it and where the class ends, or None when
/// the class is never closed.
fn class(p: &[char], at: usize, c: char) -> Option<(bool, usize)> {
    let mut i = at + 1;
    let negate = matches!(p.get(i), Some('!' | '^'));
    if negate {
        i += 1;
    }
    let first = i;
    let mut hit = false;
    loop {
        let mut lo = *p.get(i)?;
        if lo == ']' && i > first {
            return Some((hit != negate, i + 1));
        }
        if lo == '\\' {
            i += 1;
            lo = *p.get(i)?;
        }
        let mut hi = lo;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|n| *n != ']') {
            i += 2;
            hi = *p.get(i)?;
            if hi == '\\' {
                i += 1;
                hi = *p.get(i)?;
            }
        }
        hit |= lo <= c && c <= hi;
        i += 1;
    }
}

/// Matches one path segment; `*` backtracks to the most recent star only, which suffices
/// because a later star can absorb anything an earlier one would.
pub(super) fn segment_matches(pattern: &str, name: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    loop {
        let step = match (p.get(pi), s.get(si)) {
            (Some('*'), _) => {
                star = Some((pi + 1, si));
                pi += 1;
                continue;
            }
            (None, None) => return true,
            (Some('?'), Some(_)) => Some(1),
            (Some('['), Some(&c)) => match class(&p, pi, c) {
                Some((true, end)) => Some(end - pi),
                _ => None,
            },
            (Some('\\'), Some(c)) => (p.get(pi + 1) == Some(c)).then_some(2),
            (Some(pc), Some(c)) => (pc == c).then_some(1),
            _ => None,
        };
        match (step, star) {
            (Some(n), _) => {
                pi += n;
                si += 1;
            }
            (None, Some((sp, ss))) if ss < s.len() => {
                star = Some((sp, ss + 1));
                pi = sp;
                si = ss + 1;
            }
            _ => return false,
        }
    }
}

fn join(dir: &str, name: &str) -> String {
    match dir {
        "" => name.to_string(),
        "/" => format!("/{name}"),
        _ => format!("{dir}/{name}"),
    }
}

struct Walk {
    found: Vec<String>,
    seen: usize,
}

impl Walk {
    fn entries(&mut self, dir: &str) -> Result<Vec<(String, fs::FileType)>, FuncError> {
        let Ok(rd) = fs::read_dir(if dir.is_empty() { "." } else { dir }) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for entry in rd.flatten() {
            self.seen += 1;
            if self.seen > MAX_ENTRIES {
                return Err(err(format!(
                    "more than {MAX_ENTRIES} directory entries to search"
                )));
            }
            if let (Ok(name), Ok(kind)) = (entry.file_name().into_string(), entry.file_type()) {
                out.push((name, kind));
            }
        }
        Ok(out)
    }

    /// Regular files, following symlinks to files as os.Stat does.
    fn is_file(path: &str) -> bool {
        fs::metadata(path).is_ok_and(|m| m.is_file())
    }

    fn all_files(&mut self, dir: &str) -> Result<(), FuncError> {
        for (name, kind) in self.entries(dir)? {
            let path = join(dir, &name);
            if kind.is_dir() {
                self.all_files(&path)?;
            } else if Self::is_file(&path) {
                self.found.push(path);
            }
        }
        Ok(())
    }

    fn walk(&mut self, dir: &str, segs: &[&str]) -> Result<(), FuncError> {
        let Some((seg, rest)) = segs.split_first() else {
            return Ok(());
        };
        if *seg == "**" {
            if rest.is_empty() {
                return self.all_files(dir);
            }
            self.walk(dir, rest)?;
            // Symlinked directories are not descended into, so links cannot loop.
            for (name, kind) in self.entries(dir)? {
                if kind.is_dir() {
                    self.walk(&join(dir, &name), segs)?;
                }
            }
            return Ok(());
        }
        for (name, _) in self.entries(dir)? {
            if !segment_matches(seg, &name) {
                continue;
            }
            let path = join(dir, &name);
            if rest.is_empty() {
                if Self::is_file(&path) {
                    self.found.push(path);
                }
            } else if Path::new(&path).is_dir() {
                self.walk(&path, rest)?;
            }
        }
        Ok(())
    }
}

/// Files matching a cleaned, brace-free pattern path such as "/jobs/**/*.tpl".
pub(super) fn glob(pattern: &str) -> Result<Vec<String>, FuncError> {
    let root = if pattern.starts_with('/') { "/" } else { "" };
    let segs: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    let literal = segs.iter().take_while(|s| !has_meta(s)).count();
    let mut dir = root.to_string();
    for seg in &segs[..literal] {
        dir = join(&dir, seg);
    }
    let mut w = Walk {
        found: Vec::new(),
        seen: 0,
    };
    if literal == segs.len() {
        if Walk::is_file(&dir) {
            w.found.push(dir);
        }
    } else {
        w.walk(&dir, &segs[literal..])?;
    }
    Ok(w.found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braces() {
        let mut out = Vec::new();
        expand_braces("a{b,c{d,e}}f{g,}", &mut out).expect("valid pattern");
        assert_eq!(out, ["abfg", "abf", "acdfg", "acdf", "acefg", "acef"]);
        assert!(expand_braces("a{b", &mut Vec::new()).is_err());
        assert!(expand_braces(&"{a,b}".repeat(11), &mut Vec::new()).is_err());
        let mut literal = Vec::new();
        expand_braces("a\\{b,c}", &mut literal).expect("escaped brace");
        assert_eq!(literal, ["a\\{b,c}"]);
    }

    #[test]
    fn segments() {
        assert!(segment_matches("*.txt", "hello.txt"));
        assert!(segment_matches("*.txt", ".hidden.txt"));
        assert!(!segment_matches("*.txt", "hello.txt.bak"));
        assert!(segment_matches("h?llo*", "hello world"));
        assert!(segment_matches("*a*b*c", "xxaxxbxxbc"));
        assert!(segment_matches("[a-c]x", "bx"));
        assert!(!segment_matches("[!a-c]x", "bx"));
        assert!(segment_matches("[^a-c]x", "dx"));
        assert!(segment_matches("\\*", "*"));
        assert!(!segment_matches("\\*", "a"));
        assert!(!segment_matches("[a", "a"));
        assert!(segment_matches("ü*", "über"));
        assert!(segment_matches("", ""));
        assert!(!segment_matches("a", ""));
    }
}
