//! The keyring: the keys that seal variables' items, kept on the servers' disks and nowhere
//! else. The replicated state holds only each key's id and whether it is active; a server that
//! lacks a key the state names asks its peers for it over the (server-only) rpc port.
//!
//! Keys are AES-256-GCM keys in `<server data dir>/keystore/<id>.key`, mode 0600. Items are
//! sealed with a fresh random nonce, and the variable's namespace and path as associated data,
//! so sealed items copied to another path do not open there.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

pub const ALGORITHM: &str = "aes256-gcm";
pub const KEY_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("keyring key {0} is not on this server yet")]
    Missing(String),
    #[error("keyring key {id}: {why}")]
    Bad { id: String, why: String },
    #[error(
        "sealed items of variable {0:?} do not open with their key: they were altered or moved"
    )]
    Open(String),
    #[error("keystore {path}: {err}")]
    Io { path: String, err: std::io::Error },
    #[error("no random bytes from the system")]
    Random,
}

pub struct Keyring {
    dir: PathBuf,
    keys: Mutex<HashMap<String, [u8; KEY_LEN]>>,
    rng: SystemRandom,
}

impl Keyring {
    /// Opens the keystore in `dir` (created on first use). Keys are read when first needed.
    pub fn new(dir: PathBuf) -> Keyring {
        Keyring {
            dir,
            keys: Mutex::new(HashMap::new()),
            rng: SystemRandom::new(),
        }
    }

    /// A new random key, stored here. Returns its id.
    pub fn generate(&self) -> Result<String, KeyringError> {
        let mut key = [0u8; KEY_LEN];
        self.rng.fill(&mut key).map_err(|_| KeyringError::Random)?;
        let id = uuid::Uuid::new_v4().to_string();
        self.store(&id, &key)?;
        Ok(id)
    }

    /// Whether this server holds key `id`.
    pub fn has(&self, id: &str) -> bool {
        self.get(id).is_ok()
    }

    /// The key's bytes, for a peer that lacks it.
    pub fn get(&self, id: &str) -> Result<[u8; KEY_LEN], KeyringError> {
        if let Some(k) = self.cache().get(id) {
            return Ok(*k);
        }
        let path = self.path_of(id)?;
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(KeyringError::Missing(id.to_string()))
            }
            Err(err) => return Err(io_err(&path, err)),
        };
        let key: [u8; KEY_LEN] = bytes.try_into().map_err(|_| KeyringError::Bad {
            id: id.to_string(),
            why: format!("{} is not a {KEY_LEN}-byte key", path.display()),
        })?;
        self.cache().insert(id.to_string(), key);
        Ok(key)
    }

    /// Keeps a key received from a peer (or generated here): written to a temporary file,
    /// synced, then renamed, so a crash never leaves half a key.
    pub fn store(&self, id: &str, key: &[u8]) -> Result<(), KeyringError> {
        let key: [u8; KEY_LEN] = key.try_into().map_err(|_| KeyringError::Bad {
            id: id.to_string(),
            why: format!("a key is {KEY_LEN} bytes, got {}", key.len()),
        })?;
        let path = self.path_of(id)?;
        std::fs::create_dir_all(&self.dir).map_err(|e| io_err(&self.dir, e))?;
        set_mode(&self.dir, 0o700)?;
        let tmp = path.with_extension("tmp");
        {
            let mut f = open_private(&tmp)?;
            f.write_all(&key).map_err(|e| io_err(&tmp, e))?;
            f.sync_all().map_err(|e| io_err(&tmp, e))?;
        }
        std::fs::rename(&tmp, &path).map_err(|e| io_err(&path, e))?;
        self.cache().insert(id.to_string(), key);
        Ok(())
    }

    /// Seals `plain` with key `id`, bound to `aad`: nonce followed by ciphertext and tag.
    pub fn seal(&self, id: &str, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, KeyringError> {
        let key = self.aead_key(id)?;
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| KeyringError::Random)?;
        let mut buf = plain.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut buf,
        )
        .map_err(|_| KeyringError::Bad {
            id: id.to_string(),
            why: "sealing failed".into(),
        })?;
        let mut out = Vec::with_capacity(NONCE_LEN + buf.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// Opens what [`Self::seal`] produced with the same key and `aad`.
    pub fn open(
        &self,
        id: &str,
        aad: &[u8],
        sealed: &[u8],
        what: &str,
    ) -> Result<Vec<u8>, KeyringError> {
        let key = self.aead_key(id)?;
        let bad = || KeyringError::Open(what.to_string());
        if sealed.len() < NONCE_LEN {
            return Err(bad());
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| bad())?;
        let mut buf = body.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(aad), &mut buf)
            .map_err(|_| bad())?;
        Ok(plain.to_vec())
    }

    fn aead_key(&self, id: &str) -> Result<LessSafeKey, KeyringError> {
        let bytes = self.get(id)?;
        let unbound = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| KeyringError::Bad {
            id: id.to_string(),
            why: "not an AES-256 key".into(),
        })?;
        Ok(LessSafeKey::new(unbound))
    }

    /// Key ids come from the replicated state; only uuid-like names become file names.
    fn path_of(&self, id: &str) -> Result<PathBuf, KeyringError> {
        let ok = !id.is_empty()
            && id.len() <= 64
            && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
        if !ok {
            return Err(KeyringError::Bad {
                id: id.to_string(),
                why: "not a key id".into(),
            });
        }
        Ok(self.dir.join(format!("{id}.key")))
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, [u8; KEY_LEN]>> {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn io_err(path: &Path, err: std::io::Error) -> KeyringError {
    KeyringError::Io {
        path: path.display().to_string(),
        err,
    }
}

fn open_private(path: &Path) -> Result<std::fs::File, KeyringError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io_err(path, e))
}

fn set_mode(path: &Path, mode: u32) -> Result<(), KeyringError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| io_err(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_items_open_only_with_their_key_and_place() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Keyring::new(dir.path().join("keystore"));
        let id = ring.generate().unwrap();
        let sealed = ring.seal(&id, b"default\0a", b"secret-value").unwrap();
        assert!(!sealed.windows(12).any(|w| w == b"secret-value"));
        assert_eq!(
            ring.open(&id, b"default\0a", &sealed, "a").unwrap(),
            b"secret-value"
        );
        assert!(matches!(
            ring.open(&id, b"default\0b", &sealed, "b"),
            Err(KeyringError::Open(_))
        ));
        let mut altered = sealed.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert!(ring.open(&id, b"default\0a", &altered, "a").is_err());
        // Another server with the key copied over opens it; one without says which key it lacks.
        let other = Keyring::new(dir.path().join("other"));
        assert!(matches!(
            other.open(&id, b"default\0a", &sealed, "a"),
            Err(KeyringError::Missing(_))
        ));
        other.store(&id, &ring.get(&id).unwrap()).unwrap();
        assert_eq!(
            other.open(&id, b"default\0a", &sealed, "a").unwrap(),
            b"secret-value"
        );
        // A fresh keyring over the same directory reads the key from disk.
        let reopened = Keyring::new(dir.path().join("keystore"));
        assert!(reopened.has(&id));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("keystore").join(format!("{id}.key")))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn key_ids_never_escape_the_keystore() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Keyring::new(dir.path().to_path_buf());
        assert!(ring.store("../x", &[0u8; KEY_LEN]).is_err());
        assert!(ring.store("abc", &[0u8; 3]).is_err());
    }
}
