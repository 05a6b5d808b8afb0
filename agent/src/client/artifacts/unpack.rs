//! Unpacking tar, tar.gz and zip archives (and single gzip files) into a fresh directory, refusing
//! any entry that would land outside it, keeping the entries' permission bits; then merging that
//! directory into the destination by renames.

use super::paths::{create_dir_inside, entry_path, link_stays_inside};
use super::ArtifactError;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Tar,
    TarGz,
    Zip,
    /// One gzip-compressed file.
    Gz,
}

/// Extensions go-getter would unpack but this client cannot: refusing them beats handing the task
/// a compressed file it expected unpacked.
const UNSUPPORTED: [&str; 9] = [
    ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar.zst", ".tzst", ".bz2", ".xz", ".zst",
];

impl Format {
    pub fn from_name(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "tar" => Some(Format::Tar),
            "tar.gz" | "tgz" => Some(Format::TarGz),
            "zip" => Some(Format::Zip),
            "gz" => Some(Format::Gz),
            _ => None,
        }
    }

    /// By the file name's extension, longest match first (`.tar.gz` before `.gz`).
    pub fn detect(file_name: &str) -> Result<Option<Format>, ArtifactError> {
        let name = file_name.to_ascii_lowercase();
        let found = [
            (".tar.gz", Format::TarGz),
            (".tgz", Format::TarGz),
            (".tar", Format::Tar),
            (".zip", Format::Zip),
            (".gz", Format::Gz),
        ]
        .into_iter()
        .find(|(ext, _)| name.ends_with(ext));
        if let Some((_, f)) = found {
            return Ok(Some(f));
        }
        if let Some(ext) = UNSUPPORTED.iter().find(|ext| name.ends_with(*ext)) {
            return Err(ArtifactError::Archive {
                name: file_name.to_string(),
                reason: format!(
                    "{ext} archives are not supported (tar, tar.gz, tgz, zip, gz are); \
                     set options {{ archive = \"false\" }} to keep the file as downloaded"
                ),
            });
        }
        Ok(None)
    }
}

fn archive_err(name: &str, e: impl std::fmt::Display) -> ArtifactError {
    ArtifactError::Archive {
        name: name.to_string(),
        reason: e.to_string(),
    }
}

fn escapes(name: &str, entry: &Path) -> ArtifactError {
    ArtifactError::EntryEscapes {
        name: name.to_string(),
        entry: entry.display().to_string(),
    }
}

fn check_cancel(cancel: &AtomicBool) -> Result<(), ArtifactError> {
    if cancel.load(Ordering::Relaxed) {
        return Err(ArtifactError::Cancelled);
    }
    Ok(())
}

/// Unpacks the archive at `archive` into the directory `into` (created here). `name` names the
/// archive in errors. Not for [`Format::Gz`], which yields a file: see [`gunzip`].
pub fn unpack_dir(
    format: Format,
    archive: &Path,
    into: &Path,
    name: &str,
    cancel: &AtomicBool,
) -> Result<(), ArtifactError> {
    fs::create_dir_all(into).map_err(|e| ArtifactError::io("cannot create", into, e))?;
    let file = File::open(archive).map_err(|e| ArtifactError::io("cannot open", archive, e))?;
    let reader = BufReader::new(file);
    match format {
        Format::Tar => unpack_tar(reader, into, name, cancel),
        Format::TarGz => unpack_tar(
            flate2::read::MultiGzDecoder::new(reader),
            into,
            name,
            cancel,
        ),
        Format::Zip => unpack_zip(reader, into, name, cancel),
        Format::Gz => Err(archive_err(
            name,
            "a gzip file holds one file, not a directory: use mode \"any\" or \"file\"",
        )),
    }
}

/// Decompresses a single gzip file to `to`.
pub fn gunzip(archive: &Path, to: &Path, name: &str) -> Result<(), ArtifactError> {
    let file = File::open(archive).map_err(|e| ArtifactError::io("cannot open", archive, e))?;
    let mut input = flate2::read::MultiGzDecoder::new(BufReader::new(file));
    let mut out = File::create(to).map_err(|e| ArtifactError::io("cannot create", to, e))?;
    io::copy(&mut input, &mut out).map_err(|e| archive_err(name, e))?;
    Ok(())
}

fn unpack_tar<R: Read>(
    reader: R,
    into: &Path,
    name: &str,
    cancel: &AtomicBool,
) -> Result<(), ArtifactError> {
    let mut ar = tar::Archive::new(reader);
    // Permission bits yes (`mode & 0o777`), set-id bits and owners no.
    ar.set_preserve_permissions(false);
    ar.set_preserve_ownerships(false);
    ar.set_unpack_xattrs(false);
    ar.set_overwrite(true);
    // Directories last, as tar itself does, so a read-only directory does not block its own
    // entries.
    let mut dirs = Vec::new();
    for entry in ar.entries().map_err(|e| archive_err(name, e))? {
        check_cancel(cancel)?;
        let mut entry = entry.map_err(|e| archive_err(name, e))?;
        let path = entry.path().map_err(|e| archive_err(name, e))?.into_owned();
        let rel = entry_path(&path).ok_or_else(|| escapes(name, &path))?;
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name()
                .map_err(|e| archive_err(name, e))?
                .ok_or_else(|| {
                    archive_err(name, format!("link {} has no target", path.display()))
                })?;
            let inside = if kind.is_symlink() {
                link_stays_inside(&rel, &target)
            } else {
                entry_path(&target).is_some()
            };
            if !inside {
                return Err(escapes(name, &path));
            }
        }
        if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
            return Err(archive_err(
                name,
                format!("{}: device and FIFO entries are refused", path.display()),
            ));
        }
        if kind.is_dir() {
            dirs.push(entry);
            continue;
        }
        if !entry.unpack_in(into).map_err(|e| archive_err(name, e))? {
            return Err(escapes(name, &path));
        }
    }
    dirs.sort_by(|a, b| b.path_bytes().cmp(&a.path_bytes()));
    for mut d in dirs {
        d.unpack_in(into).map_err(|e| archive_err(name, e))?;
    }
    Ok(())
}

fn unpack_zip<R: Read + io::Seek>(
    reader: R,
    into: &Path,
    name: &str,
    cancel: &AtomicBool,
) -> Result<(), ArtifactError> {
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| archive_err(name, e))?;
    let mut dir_modes: Vec<(PathBuf, u32)> = Vec::new();
    for i in 0..zip.len() {
        check_cancel(cancel)?;
        let mut entry = zip.by_index(i).map_err(|e| archive_err(name, e))?;
        let raw = PathBuf::from(entry.name());
        let rel = entry_path(&raw).ok_or_else(|| escapes(name, &raw))?;
        let Some(file_name) = rel.file_name().map(|n| n.to_owned()) else {
            continue; // the root itself
        };
        let mode = entry.unix_mode().map(|m| m & 0o777);
        let mkdir = |rel: &Path| {
            create_dir_inside(into, rel)
                .map_err(|e| archive_err(name, format!("{}: {e}", raw.display())))
        };
        if entry.is_dir() {
            let dir = mkdir(&rel)?;
            dir_modes.push((dir, mode.unwrap_or(0o755)));
            continue;
        }
        let parent = mkdir(rel.parent().unwrap_or(Path::new("")))?;
        let target = parent.join(&file_name);
        remove_non_dir(&target).map_err(|e| ArtifactError::io("cannot replace", &target, e))?;
        if entry.is_symlink() {
            let mut link = String::new();
            entry
                .by_ref()
                .take(4096)
                .read_to_string(&mut link)
                .map_err(|e| archive_err(name, e))?;
            if !link_stays_inside(&rel, Path::new(&link)) {
                return Err(escapes(name, &raw));
            }
            std::os::unix::fs::symlink(&link, &target)
                .map_err(|e| ArtifactError::io("cannot create symlink", &target, e))?;
            continue;
        }
        // O_NOFOLLOW: a symlink planted at this name since the check above is not followed.
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&target)
            .map_err(|e| ArtifactError::io("cannot create", &target, e))?;
        io::copy(&mut entry, &mut out)
            .map_err(|e| archive_err(name, format!("{}: {e}", raw.display())))?;
        out.set_permissions(fs::Permissions::from_mode(mode.unwrap_or(0o644)))
            .map_err(|e| ArtifactError::io("cannot set the mode of", &target, e))?;
    }
    // Deepest first, so a read-only parent does not stop its children's chmod.
    dir_modes.sort_by(|a, b| b.0.cmp(&a.0));
    for (dir, mode) in dir_modes {
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode))
            .map_err(|e| ArtifactError::io("cannot set the mode of", &dir, e))?;
    }
    Ok(())
}

/// Removes a file or symlink at `p` (a later entry with the same name wins, as in unzip -o).
fn remove_non_dir(p: &Path) -> io::Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "a directory of the same name is in the way",
        )),
        Ok(_) => fs::remove_file(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Moves everything under `from` into `into` by renames (same file system), merging directories
/// that exist on both sides and replacing files. Never follows a symlink found in `into`.
pub fn merge_into(from: &Path, into: &Path) -> io::Result<()> {
    // Moving entries out of a directory needs write permission on it, which an archive may not
    // have granted; its own mode is restored on the destination afterwards.
    let from_mode = fs::symlink_metadata(from)?.permissions().mode();
    fs::set_permissions(from, fs::Permissions::from_mode(from_mode | 0o700))?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let src = entry.path();
        let dst = into.join(entry.file_name());
        let src_is_dir = entry.file_type()?.is_dir();
        match fs::symlink_metadata(&dst) {
            Ok(m) if m.is_dir() && src_is_dir => {
                let mode = fs::symlink_metadata(&src)?.permissions().mode();
                merge_into(&src, &dst)?;
                fs::set_permissions(&dst, fs::Permissions::from_mode(mode))?;
            }
            Ok(m) if m.is_dir() => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "{} is a directory, the artifact has a file there",
                        dst.display()
                    ),
                ))
            }
            Ok(_) if src_is_dir => {
                fs::remove_file(&dst)?;
                fs::rename(&src, &dst)?;
            }
            // rename replaces a file or a symlink itself, atomically.
            _ => fs::rename(&src, &dst)?,
        }
    }
    Ok(())
}
