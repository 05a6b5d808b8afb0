//! Filesystem functions. Relative paths are resolved against the job file's directory
//! (`abspath` excepted: like Terraform's it uses the working directory), and path strings
//! are handled lexically with Go's path rules so results match Nomad's.

use super::args::{err, exact, string, R};
use super::glob::{expand_braces, glob};
use super::{FuncEnv, FuncError};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::Value;
use std::path::PathBuf;

/// Go's filepath.Clean: resolves ".", ".." and repeated slashes without touching the disk.
pub(super) fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if rooted => {}
            seg => parts.push(seg),
        }
    }
    match (rooted, parts.is_empty()) {
        (true, _) => format!("/{}", parts.join("/")),
        (false, true) => ".".to_string(),
        (false, false) => parts.join("/"),
    }
}

/// go-homedir's Expand: only a leading "~" or "~/" is understood.
fn expand_home(path: &str) -> Result<String, FuncError> {
    let Some(rest) = path.strip_prefix('~') else {
        return Ok(path.to_string());
    };
    if !rest.is_empty() && !rest.starts_with('/') {
        return Err(err("cannot expand user-specific home dir"));
    }
    match std::env::var("HOME") {
        Ok(home) if !home.is_empty() => Ok(clean(&format!("{home}/{rest}"))),
        _ => Err(err("cannot expand ~: $HOME is not set")),
    }
}

/// The path a file function reads: home-expanded, then joined to the job's directory.
fn resolve(env: &FuncEnv, path: &str) -> Result<PathBuf, FuncError> {
    let path = expand_home(path)?;
    if path.starts_with('/') {
        return Ok(PathBuf::from(clean(&path)));
    }
    Ok(match env.base_dir.to_str() {
        Some(base) => PathBuf::from(clean(&format!("{base}/{path}"))),
        None => env.base_dir.join(path),
    })
}

fn read(env: &FuncEnv, a: &[Value]) -> Result<(PathBuf, Vec<u8>), FuncError> {
    exact(a, 1)?;
    let path = resolve(env, &string(a, 0)?)?;
    let bytes =
        std::fs::read(&path).map_err(|e| err(format!("failed to read {}: {e}", path.display())))?;
    Ok((path, bytes))
}

pub(super) fn file(a: &[Value], env: &FuncEnv) -> R {
    let (path, bytes) = read(env, a)?;
    String::from_utf8(bytes).map(Value::String).map_err(|_| {
        err(format!(
            "contents of {} are not valid UTF-8; use the filebase64 function to obtain the \
             Base64 encoded contents",
            path.display()
        ))
    })
}

pub(super) fn filebase64(a: &[Value], env: &FuncEnv) -> R {
    let (_, bytes) = read(env, a)?;
    Ok(Value::String(STANDARD.encode(bytes)))
}

pub(super) fn fileexists(a: &[Value], env: &FuncEnv) -> R {
    exact(a, 1)?;
    let path = resolve(env, &string(a, 0)?)?;
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => Ok(Value::Bool(true)),
        Ok(_) => Err(err(format!("{} is not a regular file", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Value::Bool(false)),
        Err(e) => Err(err(format!("failed to stat {}: {e}", path.display()))),
    }
}

/// `target` relative to `base`, lexically (both cleaned, both absolute or both relative).
fn relative(base: &str, target: &str) -> String {
    let parts = |p: &str| -> Vec<String> {
        p.split('/')
            .filter(|s| !s.is_empty() && *s != ".")
            .map(str::to_string)
            .collect()
    };
    let (b, t) = (parts(base), parts(target));
    let common = b.iter().zip(&t).take_while(|(x, y)| x == y).count();
    let mut out = vec!["..".to_string(); b.len() - common];
    out.extend_from_slice(&t[common..]);
    if out.is_empty() {
        ".".to_string()
    } else {
        out.join("/")
    }
}

/// Files (not directories) under `path` matching `pattern`, as sorted '/'-separated paths
/// relative to `path`.
pub(super) fn fileset(a: &[Value], env: &FuncEnv) -> R {
    exact(a, 2)?;
    let (path, pattern) = (string(a, 0)?, string(a, 1)?);
    let base = if path.starts_with('/') {
        clean(&path)
    } else {
        let dir = env.base_dir.to_str().ok_or_else(|| {
            err(format!(
                "the job directory {} is not valid UTF-8",
                env.base_dir.display()
            ))
        })?;
        clean(&format!("{dir}/{path}"))
    };
    let mut patterns = Vec::new();
    expand_braces(&pattern, &mut patterns)?;
    let mut found = Vec::new();
    for p in patterns {
        for hit in glob(&clean(&format!("{base}/{p}")))? {
            found.push(relative(&base, &hit));
        }
    }
    found.sort();
    found.dedup();
    Ok(Value::Array(found.into_iter().map(Value::String).collect()))
}

pub(super) fn abspath(a: &[Value]) -> R {
    exact(a, 1)?;
    let path = string(a, 0)?;
    if path.starts_with('/') {
        return Ok(Value::String(clean(&path)));
    }
    let cwd = std::env::current_dir()
        .map_err(|e| err(format!("cannot determine the working directory: {e}")))?;
    let cwd = cwd
        .to_str()
        .ok_or_else(|| err("the working directory is not valid UTF-8"))?;
    Ok(Value::String(clean(&format!("{cwd}/{path}"))))
}

/// Go's filepath.Base: the last element, ignoring trailing slashes.
pub(super) fn basename(a: &[Value]) -> R {
    exact(a, 1)?;
    let path = string(a, 0)?;
    if path.is_empty() {
        return Ok(Value::from("."));
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(Value::from("/"));
    }
    Ok(Value::from(trimmed.rsplit('/').next().unwrap_or(trimmed)))
}

/// Go's filepath.Dir: everything before the last slash, cleaned.
pub(super) fn dirname(a: &[Value]) -> R {
    exact(a, 1)?;
    let path = string(a, 0)?;
    let dir = path.rfind('/').map_or("", |i| &path[..=i]);
    Ok(Value::String(clean(dir)))
}

pub(super) fn pathexpand(a: &[Value]) -> R {
    exact(a, 1)?;
    Ok(Value::String(expand_home(&string(a, 0)?)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::fs;
    use std::path::Path;

    /// A scratch directory removed on drop; unique per test so tests can run in parallel.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("hcl2-funcs-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            for sub in ["sub/deep", "empty", "other"] {
                fs::create_dir_all(dir.join(sub)).expect("create scratch dirs");
            }
            for (name, body) in [
                ("hello.txt", "Hello World".as_bytes()),
                ("b.txt", b"b"),
                (".hidden.txt", b"h"),
                ("bin.dat", &[0xff, 0xfe, 0x00]),
                ("sub/c.txt", b"c"),
                ("sub/deep/d.tpl", b"d"),
                ("other/e.txt", b"e"),
            ] {
                fs::write(dir.join(name), body).expect("write scratch file");
            }
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn call(f: fn(&[Value], &FuncEnv) -> R, dir: &Path, args: Value) -> R {
        f(
            args.as_array().expect("test args are a JSON array"),
            &FuncEnv { base_dir: dir },
        )
    }

    #[test]
    fn reading_files() {
        let s = Scratch::new("read");
        assert_eq!(
            call(file, &s.0, json!(["hello.txt"])),
            Ok(json!("Hello World"))
        );
        assert_eq!(
            call(file, &s.0, json!(["sub/../hello.txt"])),
            Ok(json!("Hello World"))
        );
        let abs = s.0.join("sub/c.txt");
        assert_eq!(
            call(file, Path::new("/nonexistent"), json!([abs.to_str()])),
            Ok(json!("c"))
        );
        assert_eq!(
            call(filebase64, &s.0, json!(["hello.txt"])),
            Ok(json!("SGVsbG8gV29ybGQ="))
        );
        assert_eq!(
            call(filebase64, &s.0, json!(["bin.dat"])),
            Ok(json!("//4A"))
        );
        assert!(call(file, &s.0, json!(["bin.dat"])).is_err());
        let missing = call(file, &s.0, json!(["nope.txt"]));
        let Err(FuncError::Failed(msg)) = missing else {
            panic!("expected an error")
        };
        assert!(
            msg.contains("nope.txt") && msg.contains("No such file"),
            "{msg}"
        );
        assert_eq!(
            call(fileexists, &s.0, json!(["hello.txt"])),
            Ok(json!(true))
        );
        assert_eq!(
            call(fileexists, &s.0, json!(["nope.txt"])),
            Ok(json!(false))
        );
        assert!(call(fileexists, &s.0, json!(["sub"])).is_err());
    }

    #[test]
    fn globbing() {
        let s = Scratch::new("glob");
        let set = |pattern: &str| call(fileset, &s.0, json!([".", pattern]));
        assert_eq!(
            set("*.txt"),
            Ok(json!([".hidden.txt", "b.txt", "hello.txt"]))
        );
        assert_eq!(
            set("**"),
            Ok(json!([
                ".hidden.txt",
                "b.txt",
                "bin.dat",
                "hello.txt",
                "other/e.txt",
                "sub/c.txt",
                "sub/deep/d.tpl"
            ]))
        );
        assert_eq!(
            set("**/*.txt"),
            Ok(json!([
                ".hidden.txt",
                "b.txt",
                "hello.txt",
                "other/e.txt",
                "sub/c.txt"
            ]))
        );
        assert_eq!(
            set("{sub,other}/*.txt"),
            Ok(json!(["other/e.txt", "sub/c.txt"]))
        );
        assert_eq!(set("sub/**/*.tpl"), Ok(json!(["sub/deep/d.tpl"])));
        assert_eq!(set("[bh]*.txt"), Ok(json!(["b.txt", "hello.txt"])));
        assert_eq!(set("?.txt"), Ok(json!(["b.txt"])));
        assert_eq!(set("hello.txt"), Ok(json!(["hello.txt"])));
        assert_eq!(set("sub"), Ok(json!([])));
        assert_eq!(set("*.nothing"), Ok(json!([])));
        assert_eq!(
            call(fileset, &s.0, json!(["sub", "*.txt"])),
            Ok(json!(["c.txt"]))
        );
        assert_eq!(
            call(fileset, &s.0, json!(["sub", "../other/*"])),
            Ok(json!(["../other/e.txt"]))
        );
        assert!(set("{a").is_err());
    }

    #[test]
    fn path_strings() {
        let none = |f: fn(&[Value]) -> R, p: &str| f(&[json!(p)]);
        assert_eq!(none(basename, "foo/bar/baz.txt"), Ok(json!("baz.txt")));
        assert_eq!(none(basename, "/foo/bar/"), Ok(json!("bar")));
        assert_eq!(none(basename, "///"), Ok(json!("/")));
        assert_eq!(none(basename, ""), Ok(json!(".")));
        assert_eq!(none(dirname, "foo/bar/baz.txt"), Ok(json!("foo/bar")));
        assert_eq!(none(dirname, "/foo/bar/"), Ok(json!("/foo/bar")));
        assert_eq!(none(dirname, "baz.txt"), Ok(json!(".")));
        assert_eq!(none(dirname, "/baz.txt"), Ok(json!("/")));
        assert_eq!(none(abspath, "/a/./b/../c"), Ok(json!("/a/c")));
        let cwd = std::env::current_dir().expect("cwd");
        assert_eq!(
            none(abspath, "x"),
            Ok(json!(format!("{}/x", cwd.display())))
        );
        assert_eq!(
            none(pathexpand, "/etc/resolv.conf"),
            Ok(json!("/etc/resolv.conf"))
        );
        if let Ok(home) = std::env::var("HOME") {
            assert_eq!(
                none(pathexpand, "~/.ssh/id_rsa"),
                Ok(json!(clean(&format!("{home}/.ssh/id_rsa"))))
            );
        }
        assert!(none(pathexpand, "~bob/x").is_err());
        assert_eq!(clean("a//b/./../c/"), "a/c");
        assert_eq!(clean("../../x"), "../../x");
        assert_eq!(clean("/../x"), "/x");
        assert_eq!(clean(""), ".");
        assert_eq!(relative("/a/b", "/a/c/d"), "../c/d");
    }
}
