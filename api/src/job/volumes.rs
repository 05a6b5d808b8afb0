//! Host volumes: a group's `volume "name" { type = "host" source read_only }` asks for a
//! directory a client offers in its config (`client { host_volume "source" { path } }`), and a
//! task's `volume_mount { volume destination read_only }` puts it in the task's view.

use serde::{Deserialize, Serialize};

pub const VOLUME_TYPE_HOST: &str = "host";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeRequest {
    #[serde(default)]
    pub name: String,
    #[serde(rename = "Type", default = "host")]
    pub volume_type: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub read_only: bool,
}

fn host() -> String {
    VOLUME_TYPE_HOST.into()
}

impl Default for VolumeRequest {
    fn default() -> Self {
        VolumeRequest {
            name: String::new(),
            volume_type: host(),
            source: String::new(),
            read_only: false,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeMount {
    #[serde(default)]
    pub volume: String,
    #[serde(default)]
    pub destination: String,
    #[serde(default)]
    pub read_only: bool,
}

impl VolumeRequest {
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.volume_type == "csi" {
            out.push(format!(
                "volume {:?}: type \"csi\" is not supported (CSI volumes); use a host volume",
                self.name
            ));
        } else if self.volume_type != VOLUME_TYPE_HOST {
            out.push(format!(
                "volume {:?}: type {:?} must be \"host\"",
                self.name, self.volume_type
            ));
        }
        if self.source.is_empty() {
            out.push(format!(
                "volume {:?} needs a source: the name of a client's host_volume",
                self.name
            ));
        }
        out
    }
}

/// The destination inside the task's root, relative, without `..`: `None` when it would climb
/// out.
pub fn mount_destination(dest: &str) -> Option<std::path::PathBuf> {
    let rel = dest.trim_start_matches('/');
    let ok = !rel.is_empty()
        && rel
            .split('/')
            .all(|p| !p.is_empty() && p != ".." && p != ".");
    ok.then(|| std::path::PathBuf::from(rel))
}
