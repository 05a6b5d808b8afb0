//! Reading an artifact's `source` and `options` the way go-getter does: options are appended to the
//! source URL as query parameters, and the `checksum` and `archive` parameters are taken out of the
//! URL before fetching (whether they came from `options` or were written into the URL).

use super::unpack::Format;
use super::ArtifactError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The URL to GET, with the remaining query parameters.
    Http(String),
    /// An absolute path on this node.
    Local(PathBuf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algo {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl Algo {
    pub fn name(self) -> &'static str {
        match self {
            Algo::Md5 => "md5",
            Algo::Sha1 => "sha1",
            Algo::Sha256 => "sha256",
            Algo::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algo::Md5 => 32,
            Algo::Sha1 => 40,
            Algo::Sha256 => 64,
            Algo::Sha512 => 128,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    pub algo: Algo,
    /// Lowercase hex.
    pub expected: String,
}

impl Checksum {
    /// `type:hex`; without a type, go-getter guesses it from the length.
    pub fn parse(value: &str) -> Result<Checksum, ArtifactError> {
        let bad = |reason: String| ArtifactError::BadOption {
            key: "checksum".into(),
            value: value.into(),
            reason,
        };
        let (kind, hex) = match value.split_once(':') {
            Some((k, h)) => (Some(k.trim().to_ascii_lowercase()), h.trim()),
            None => (None, value.trim()),
        };
        let algo = match kind.as_deref() {
            Some("md5") => Algo::Md5,
            Some("sha1") => Algo::Sha1,
            Some("sha256") => Algo::Sha256,
            Some("sha512") => Algo::Sha512,
            Some("file") => {
                return Err(bad(
                    "checksum files are not supported: give the value as type:hex".into(),
                ))
            }
            Some(other) => {
                return Err(bad(format!(
                    "unknown checksum type {other:?} (md5, sha1, sha256, sha512)"
                )))
            }
            None => [Algo::Md5, Algo::Sha1, Algo::Sha256, Algo::Sha512]
                .into_iter()
                .find(|a| a.hex_len() == hex.len())
                .ok_or_else(|| {
                    bad("expected type:hex, for example sha256:<64 hex digits>".into())
                })?,
        };
        if hex.len() != algo.hex_len() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad(format!(
                "a {} checksum is {} hex digits",
                algo.name(),
                algo.hex_len()
            )));
        }
        Ok(Checksum {
            algo,
            expected: hex.to_ascii_lowercase(),
        })
    }
}

/// What to do about unpacking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveChoice {
    /// By the file name's extension.
    Detect,
    /// `archive = "false"`: keep the file as downloaded.
    Off,
    /// `archive = "zip"` and the like, whatever the name says.
    Forced(Format),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub location: Location,
    /// The last segment of the path: the file's name in mode "any" and the extension to detect.
    pub file_name: Option<String>,
    pub checksum: Option<Checksum>,
    pub archive: ArchiveChoice,
}

impl Source {
    /// Relative local paths are relative to `task_dir`.
    pub fn parse(
        raw: &str,
        options: &BTreeMap<String, String>,
        task_dir: &Path,
    ) -> Result<Source, ArtifactError> {
        let bad = |reason: &str| ArtifactError::BadSource {
            src: raw.to_string(),
            reason: reason.to_string(),
        };
        let raw = raw.trim();
        let raw = raw.split_once('#').map_or(raw, |(s, _)| s);
        let (base, query) = raw.split_once('?').unwrap_or((raw, ""));
        let (scheme, rest) = match base.split_once("://") {
            Some((s, r)) => (s.to_ascii_lowercase(), r),
            None => (String::new(), base),
        };
        if scheme.is_empty() {
            if let Some((getter, _)) = base.split_once("::") {
                return Err(bad(&format!(
                    "the {getter:?} getter is not supported (http, https and local files are)"
                )));
            }
        }

        // URL parameters are kept raw so the server sees them as written; options are encoded.
        let mut params: Vec<(String, String)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, _) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k), p.to_string())
            })
            .collect();
        for (k, v) in options {
            params.retain(|(key, _)| key != k);
            params.push((
                k.clone(),
                format!("{}={}", percent_encode(k), percent_encode(v)),
            ));
        }
        let mut take = |key: &str| -> Option<String> {
            let i = params.iter().rposition(|(k, _)| k == key)?;
            let (_, raw) = params.remove(i);
            Some(percent_decode(raw.split_once('=').map_or("", |(_, v)| v)))
        };
        let checksum = take("checksum")
            .filter(|v| !v.is_empty())
            .map(|v| Checksum::parse(&v))
            .transpose()?;
        let archive = match take("archive") {
            None => ArchiveChoice::Detect,
            Some(v) if v.is_empty() => ArchiveChoice::Detect,
            Some(v) if v.eq_ignore_ascii_case("false") => ArchiveChoice::Off,
            Some(v) => ArchiveChoice::Forced(Format::from_name(&v).ok_or_else(|| {
                ArtifactError::BadOption {
                    key: "archive".into(),
                    value: v.clone(),
                    reason:
                        "not a format this client unpacks (tar, tar.gz, tgz, zip, gz) nor \"false\""
                            .into(),
                }
            })?),
        };

        let (location, path) = match scheme.as_str() {
            "http" | "https" => {
                let path = rest.split_once('/').map_or("", |(_, p)| p);
                if rest.is_empty() || rest.starts_with('/') {
                    return Err(bad("the URL has no host"));
                }
                let mut url = format!("{scheme}://{rest}");
                let rest: Vec<&str> = params.iter().map(|(_, raw)| raw.as_str()).collect();
                if !rest.is_empty() {
                    url.push('?');
                    url.push_str(&rest.join("&"));
                }
                (Location::Http(url), percent_decode(path))
            }
            "file" => {
                if !rest.starts_with('/') {
                    return Err(bad("a file URL needs an absolute path: file:///path"));
                }
                let path = percent_decode(rest);
                (Location::Local(PathBuf::from(&path)), path)
            }
            "" => {
                let p = Path::new(base);
                let abs = if p.is_absolute() {
                    p.to_path_buf()
                } else {
                    task_dir.join(p)
                };
                (Location::Local(abs), base.to_string())
            }
            other => {
                return Err(bad(&format!(
                    "the {other:?} scheme is not supported (http, https, file and local paths are)"
                )))
            }
        };
        let file_name = path
            .rsplit('/')
            .next()
            .filter(|n| !n.is_empty() && *n != "." && *n != "..")
            .map(str::to_string);
        Ok(Source {
            location,
            file_name,
            checksum,
            archive,
        })
    }

    /// The archive format to unpack with, if any.
    pub fn format(&self) -> Result<Option<Format>, ArtifactError> {
        match self.archive {
            ArchiveChoice::Off => Ok(None),
            ArchiveChoice::Forced(f) => Ok(Some(f)),
            ArchiveChoice::Detect => Format::detect(self.file_name.as_deref().unwrap_or("")),
        }
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str, opts: &[(&str, &str)]) -> Result<Source, ArtifactError> {
        let opts = opts
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Source::parse(src, &opts, Path::new("/task"))
    }

    #[test]
    fn options_join_the_query_and_magic_ones_leave_it() {
        let s = parse(
            "https://h:8080/d/app.tar.gz?v=1&archive=false",
            &[
                ("token", "a b/c"),
                ("checksum", &format!("sha256:{}", "A".repeat(64))),
            ],
        )
        .unwrap();
        assert_eq!(
            s.location,
            Location::Http("https://h:8080/d/app.tar.gz?v=1&token=a%20b%2Fc".into())
        );
        assert_eq!(s.file_name.as_deref(), Some("app.tar.gz"));
        assert_eq!(s.archive, ArchiveChoice::Off);
        let c = s.checksum.unwrap();
        assert_eq!((c.algo, c.expected), (Algo::Sha256, "a".repeat(64)));
        // The options block wins over the URL.
        let s = parse("http://h/x.zip?archive=false", &[("archive", "zip")]).unwrap();
        assert_eq!(s.archive, ArchiveChoice::Forced(Format::Zip));
        assert_eq!(s.location, Location::Http("http://h/x.zip".into()));
    }

    #[test]
    fn local_paths_and_file_urls() {
        let s = parse("file:///srv/a%20b.txt", &[]).unwrap();
        assert_eq!(s.location, Location::Local("/srv/a b.txt".into()));
        assert_eq!(s.file_name.as_deref(), Some("a b.txt"));
        let s = parse("bin/tool", &[]).unwrap();
        assert_eq!(s.location, Location::Local("/task/bin/tool".into()));
        assert!(parse("file://host/x", &[]).is_err());
        assert!(parse("git::https://h/r.git", &[]).is_err());
        assert!(parse("s3://bucket/x", &[]).is_err());
    }

    #[test]
    fn checksum_forms() {
        let md5 = "d41d8cd98f00b204e9800998ecf8427e";
        assert_eq!(Checksum::parse(md5).unwrap().algo, Algo::Md5);
        assert_eq!(
            Checksum::parse(&format!("SHA1:{}", "0".repeat(40)))
                .unwrap()
                .algo,
            Algo::Sha1
        );
        for bad in ["sha256:abcd", "crc32:00", "file:http://h/SUMS", "sha256:zz"] {
            let e = Checksum::parse(bad).unwrap_err().to_string();
            assert!(e.contains("checksum"), "{e}");
        }
    }
}
