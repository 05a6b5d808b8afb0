//! A real nginx (Debian's package) for the tests of the agent's template renderer: started in the
//! foreground as its own process group, with its pid, logs and every temp path inside its own
//! directory, including `<dir>/conf.d/*.conf` in its http block. It listens only where the
//! rendered config says (a free loopback port the test picks). Killed with its workers on drop.

use crate::wait_for;
use anyhow::{bail, Context, Result};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Nginx {
    pub dir: PathBuf,
    child: Option<Child>,
}

/// nginx from $PATH or Debian's /usr/sbin, or what to install.
pub fn nginx_bin() -> Result<PathBuf> {
    for p in ["/usr/sbin/nginx", "/usr/bin/nginx"] {
        if Path::new(p).exists() {
            return Ok(PathBuf::from(p));
        }
    }
    bail!("nginx is not installed: apt-get install nginx (scripts/test installs it)")
}

impl Nginx {
    /// Writes `dir/nginx.conf` and an empty `dir/conf.d/services.conf`, then starts nginx.
    pub fn start(dir: &Path) -> Result<Nginx> {
        let bin = nginx_bin()?;
        std::fs::create_dir_all(dir.join("conf.d"))?;
        std::fs::write(dir.join("conf.d/services.conf"), "")?;
        let d = dir.display();
        let conf = format!(
            "pid {d}/nginx.pid;\n\
             error_log {d}/error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n\
             \x20 access_log {d}/access.log;\n\
             \x20 client_body_temp_path {d}/client_body;\n\
             \x20 proxy_temp_path {d}/proxy;\n\
             \x20 fastcgi_temp_path {d}/fastcgi;\n\
             \x20 uwsgi_temp_path {d}/uwsgi;\n\
             \x20 scgi_temp_path {d}/scgi;\n\
             \x20 include {d}/conf.d/*.conf;\n\
             }}\n"
        );
        std::fs::write(dir.join("nginx.conf"), conf)?;
        let child = Command::new(&bin)
            .args(["-p", &d.to_string(), "-c", &format!("{d}/nginx.conf")])
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let n = Nginx {
            dir: dir.to_path_buf(),
            child: Some(child),
        };
        let pid = n.dir.join("nginx.pid");
        wait_for(
            "nginx to write its pid file",
            Duration::from_secs(20),
            || pid.exists().then_some(()),
        )
        .map_err(|e| anyhow::anyhow!("{e}\n{}", n.error_log()))?;
        Ok(n)
    }

    fn args(&self) -> String {
        format!("-p {0} -c {0}/nginx.conf", self.dir.display())
    }

    /// The `check` of the renderer's template block.
    pub fn check_command(&self) -> String {
        format!(
            "{} -t -q {}",
            nginx_bin().unwrap_or_default().display(),
            self.args()
        )
    }

    /// The `command` of the renderer's template block.
    pub fn reload_command(&self) -> String {
        format!(
            "{} -s reload {}",
            nginx_bin().unwrap_or_default().display(),
            self.args()
        )
    }

    /// Where the renderer writes.
    pub fn services_conf(&self) -> PathBuf {
        self.dir.join("conf.d/services.conf")
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let pgid = c.id() as i32;
            // SIGTERM is nginx's fast shutdown; its workers are in the same group.
            unsafe { libc::killpg(pgid, libc::SIGTERM) };
            let stopped = wait_for("nginx to stop", Duration::from_secs(5), || {
                c.try_wait().ok().flatten()
            });
            if stopped.is_err() {
                unsafe { libc::killpg(pgid, libc::SIGKILL) };
                let _ = c.wait();
            }
        }
    }
}

/// An agent config HCL for a renderer that keeps `nginx` in line with the catalog, using the
/// repository's nginx template, with nginx listening on `listen`.
pub fn renderer_config(nginx: &Nginx, template: &Path, listen: &str) -> String {
    format!(
        "client {{\n  meta {{\n    proxy_listen = \"{listen}\"\n  }}\n}}\n\
         template {{\n  source      = \"{}\"\n  destination = \"{}\"\n  check       = \"{}\"\n  \
         command     = \"{}\"\n}}\n",
        template.display(),
        nginx.services_conf().display(),
        nginx.check_command(),
        nginx.reload_command(),
    )
}

/// The repository's nginx template (`templates/nginx-services.conf.j2`).
pub fn repo_template() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../templates/nginx-services.conf.j2")
        .canonicalize()
        .unwrap_or_else(|_| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates/nginx-services.conf.j2")
        })
}

/// The allocations that answered `n` GETs of `url`, for the tests' httpd jobs whose index page
/// says "instance <alloc id>".
pub fn reached_instances(url: &str, n: usize) -> std::collections::BTreeSet<String> {
    (0..n)
        .filter_map(|_| get(url).ok())
        .filter(|(status, _)| *status == 200)
        .filter_map(|(_, body)| body.trim().strip_prefix("instance ").map(str::to_string))
        .collect()
}

/// One GET through nginx: (status, body); connection failures are errors.
pub fn get(url: &str) -> Result<(u16, String)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut resp = agent.get(url).call()?;
    let status = resp.status().as_u16();
    Ok((status, resp.body_mut().read_to_string().unwrap_or_default()))
}
