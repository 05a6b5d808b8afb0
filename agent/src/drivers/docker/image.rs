//! Getting the task's image onto the engine: use it when present, load it from a tarball in the
//! task directory when the job says so, else pull it. An image that is present is never pulled
//! again unless `force_pull` asks for it.

use super::config::{DockerTaskConfig, RegistryAuth};
use super::engine::has_status;
use crate::drivers::DriverError;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::{CreateImageOptions, ImportImageOptions};
use bollard::Docker;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// Nomad's default `image_pull_timeout`.
const PULL_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Splits a reference into what the pull API wants: the repository and a tag. Without a tag (or
/// digest) the engine would pull every tag of the repository; `latest` is what `docker pull`
/// means.
pub fn pull_reference(image: &str) -> (String, String) {
    if let Some((repo, digest)) = image.split_once('@') {
        return (repo.to_string(), digest.to_string());
    }
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].rfind(':') {
        Some(i) => (
            image[..last_slash + i].to_string(),
            image[last_slash + i + 1..].to_string(),
        ),
        None => (image.to_string(), "latest".to_string()),
    }
}

async fn is_present(docker: &Docker, image: &str) -> Result<bool, DriverError> {
    match docker.inspect_image(image).await {
        Ok(_) => Ok(true),
        Err(e) if has_status(&e, 404) => Ok(false),
        Err(e) => Err(DriverError::Start(format!(
            "cannot inspect image {image:?}: {e}"
        ))),
    }
}

/// Why an image could not be pulled or loaded; callers add which image and what was asked.
#[derive(Debug, thiserror::Error)]
enum ImageError {
    #[error(transparent)]
    Engine(#[from] bollard::errors::Error),
    #[error("the pull took longer than {0:?}")]
    PullTimeout(Duration),
    #[error("open {}: {source}", path.display())]
    OpenTarball {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

async fn pull(docker: &Docker, image: &str, auth: Option<&RegistryAuth>) -> Result<(), ImageError> {
    let (repo, tag) = pull_reference(image);
    let options = CreateImageOptions {
        from_image: Some(repo),
        tag: Some(tag),
        ..Default::default()
    };
    let credentials = auth.map(|a| DockerCredentials {
        username: Some(a.username.clone()),
        password: Some(a.password.clone()),
        serveraddress: (!a.server_address.is_empty()).then(|| a.server_address.clone()),
        ..Default::default()
    });
    let progress = docker
        .create_image(Some(options), None, credentials)
        .try_for_each(|_| async { Ok(()) });
    match tokio::time::timeout(PULL_TIMEOUT, progress).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(ImageError::PullTimeout(PULL_TIMEOUT)),
    }
}

/// Where `load` points: Nomad resolves it in the task's `local` dir (where artifacts land by
/// default); the task dir itself is accepted too.
fn tarball_path(task_dir: &Path, load: &str) -> Result<PathBuf, DriverError> {
    let candidates = [task_dir.join("local").join(load), task_dir.join(load)];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            DriverError::Start(format!(
                "image tarball {load:?} not found (looked for {} and {}); is the artifact that provides it declared?",
                candidates[0].display(),
                candidates[1].display()
            ))
        })
}

/// Streams a `docker save` tarball into the engine's image-load API without reading it whole.
async fn load_tarball(docker: &Docker, path: &Path) -> Result<(), ImageError> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|source| ImageError::OpenTarball {
            path: path.to_path_buf(),
            source,
        })?;
    let chunks = futures::stream::try_unfold(file, |mut f| async move {
        let mut buf = vec![0u8; 256 * 1024];
        let n = f.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        Ok(Some((Bytes::from(buf), f)))
    });
    let mut answers = docker.import_image(
        ImportImageOptions::default(),
        bollard::body_try_stream(chunks),
        None,
    );
    while let Some(answer) = answers.next().await {
        answer?;
    }
    Ok(())
}

/// Makes `cfg.image` present on the engine.
pub async fn ensure_image(
    docker: &Docker,
    cfg: &DockerTaskConfig,
    task_dir: &Path,
) -> Result<(), DriverError> {
    let image = &cfg.image;
    if let Some(load) = &cfg.load {
        if is_present(docker, image).await? {
            return Ok(());
        }
        let path = tarball_path(task_dir, load)?;
        load_tarball(docker, &path).await.map_err(|e| {
            DriverError::Start(format!("cannot load image tarball {}: {e}", path.display()))
        })?;
        if !is_present(docker, image).await? {
            return Err(DriverError::Start(format!(
                "image tarball {} was loaded but does not contain image {image:?}",
                path.display()
            )));
        }
        return Ok(());
    }
    if !cfg.force_pull && is_present(docker, image).await? {
        return Ok(());
    }
    match pull(docker, image, cfg.auth.as_ref()).await {
        Ok(()) => Ok(()),
        Err(e) if cfg.force_pull => Err(DriverError::Start(format!(
            "force_pull of image {image:?} failed: {e}"
        ))),
        Err(e) => Err(DriverError::Start(format!(
            "image {image:?} is not present on this client and could not be pulled: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_reference_defaults_to_latest() {
        let cases = [
            ("busybox", ("busybox", "latest")),
            ("redis:7", ("redis", "7")),
            ("localhost:5000/app", ("localhost:5000/app", "latest")),
            ("localhost:5000/app:v2", ("localhost:5000/app", "v2")),
            ("app@sha256:ab", ("app", "sha256:ab")),
        ];
        for (input, (repo, tag)) in cases {
            assert_eq!(
                pull_reference(input),
                (repo.to_string(), tag.to_string()),
                "{input}"
            );
        }
    }

    #[test]
    fn missing_tarball_names_the_paths() {
        let dir = tempfile::tempdir().unwrap();
        let err = tarball_path(dir.path(), "img.tar").unwrap_err().to_string();
        assert!(err.contains("local/img.tar"), "{err}");
        std::fs::write(dir.path().join("img.tar"), b"x").unwrap();
        assert_eq!(
            tarball_path(dir.path(), "img.tar").unwrap(),
            dir.path().join("img.tar")
        );
    }
}
