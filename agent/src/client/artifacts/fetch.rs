//! Getting an artifact's bytes into a file: HTTP(S) with retries of transient failures, or a copy
//! of a local file; hashing on the way when a checksum is to be verified.

use super::source::{Algo, Location};
use super::{ArtifactError, RetryPolicy};
use sha2::digest::DynDigest;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// A server that sends nothing for this long is treated as gone (and retried).
const READ_TIMEOUT: Duration = Duration::from_secs(120);
/// Nomad's default `artifact { http_read_timeout }`.
const WHOLE_DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30 * 60);

fn hasher(algo: Algo) -> Box<dyn DynDigest> {
    match algo {
        Algo::Md5 => Box::new(md5::Md5::default()),
        Algo::Sha1 => Box::new(sha1::Sha1::default()),
        Algo::Sha256 => Box::new(sha2::Sha256::default()),
        Algo::Sha512 => Box::new(sha2::Sha512::default()),
    }
}

fn agent() -> &'static ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        ureq::config::Config::builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_per_read(Some(READ_TIMEOUT))
            .timeout_global(Some(WHOLE_DOWNLOAD_TIMEOUT))
            .user_agent("nomad-agent (artifact fetch)")
            .build()
            .new_agent()
    })
}

/// Writes the artifact to `to` and returns the hex digest when `algo` is given.
pub fn download(
    location: &Location,
    to: &Path,
    algo: Option<Algo>,
    retry: &RetryPolicy,
    cancel: &AtomicBool,
) -> Result<Option<String>, ArtifactError> {
    match location {
        Location::Local(path) => copy_local(path, to, algo, cancel),
        Location::Http(url) => {
            let mut delay = retry.first_delay;
            let mut attempt = 1;
            loop {
                if cancel.load(Ordering::Relaxed) {
                    return Err(ArtifactError::Cancelled);
                }
                match get_once(url, to, algo, cancel) {
                    Err(e) if e.is_transient() && attempt < retry.attempts => {
                        tracing::warn!(%url, attempt, error = %e, retry_in = ?delay, "artifact download failed, retrying");
                        std::thread::sleep(delay);
                        delay = (delay * 2).min(retry.max_delay);
                        attempt += 1;
                    }
                    other => return other,
                }
            }
        }
    }
}

fn copy_local(
    from: &Path,
    to: &Path,
    algo: Option<Algo>,
    cancel: &AtomicBool,
) -> Result<Option<String>, ArtifactError> {
    let meta = fs::metadata(from).map_err(|e| ArtifactError::io("cannot read", from, e))?;
    if meta.is_dir() {
        return Err(ArtifactError::BadSource {
            src: from.display().to_string(),
            reason: "is a directory; only files (and archives) can be fetched".into(),
        });
    }
    let mut input = File::open(from).map_err(|e| ArtifactError::io("cannot open", from, e))?;
    let digest = write_all(&mut input, to, algo, cancel, |e| {
        ArtifactError::io("cannot read", from, e)
    })?;
    // A local script stays executable, as `cp -p` would keep it.
    fs::set_permissions(
        to,
        fs::Permissions::from_mode(meta.permissions().mode() & 0o777),
    )
    .map_err(|e| ArtifactError::io("cannot set the mode of", to, e))?;
    Ok(digest)
}

fn get_once(
    url: &str,
    to: &Path,
    algo: Option<Algo>,
    cancel: &AtomicBool,
) -> Result<Option<String>, ArtifactError> {
    let resp = agent().get(url).call().map_err(|e| request_err(url, e))?;
    let status = resp.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(ArtifactError::Status {
            url: url.to_string(),
            status,
        });
    }
    let mut body = resp.into_body().into_reader();
    write_all(&mut body, to, algo, cancel, |e| {
        ArtifactError::Unreachable {
            url: url.to_string(),
            msg: format!("reading the body: {e}"),
        }
    })
}

/// Connection-level trouble may pass; a malformed URL or a TLS verdict will not.
fn request_err(url: &str, e: ureq::Error) -> ArtifactError {
    let transient = matches!(
        e,
        ureq::Error::Io(_)
            | ureq::Error::Timeout(_)
            | ureq::Error::HostNotFound
            | ureq::Error::ConnectionFailed
            | ureq::Error::Protocol(_)
            | ureq::Error::BodyStalled
            | ureq::Error::ConnectProxyFailed(_)
    );
    if transient {
        ArtifactError::Unreachable {
            url: url.to_string(),
            msg: e.to_string(),
        }
    } else {
        ArtifactError::Request {
            url: url.to_string(),
            msg: e.to_string(),
        }
    }
}

/// Copies `input` into a new file at `to` (replacing an earlier attempt's), synced to disk. Read
/// errors go through `read_err`, so the caller decides whether they are worth a retry.
fn write_all(
    input: &mut dyn Read,
    to: &Path,
    algo: Option<Algo>,
    cancel: &AtomicBool,
    read_err: impl Fn(std::io::Error) -> ArtifactError,
) -> Result<Option<String>, ArtifactError> {
    let mut out = File::create(to).map_err(|e| ArtifactError::io("cannot create", to, e))?;
    let mut hash = algo.map(hasher);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(ArtifactError::Cancelled);
        }
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_err(e)),
        };
        out.write_all(&buf[..n])
            .map_err(|e| ArtifactError::io("cannot write", to, e))?;
        if let Some(h) = hash.as_mut() {
            h.update(&buf[..n]);
        }
    }
    out.sync_all()
        .map_err(|e| ArtifactError::io("cannot write", to, e))?;
    Ok(hash.map(|h| hex::encode(h.finalize())))
}
