//! The refresh-token file of `AUTH_MODE=refresh_token`: one lock holder, and a durable
//! replacement (temporary file 0600, fsync, rename, directory fsync) before a rotated token
//! is used.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use secrecy::SecretString;

use super::{OAuthError, SetupError};

/// `{dir}/{name}{suffix}`, beside `path`.
pub(super) fn beside(path: &Path, prefix: &str, suffix: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "refresh-token".to_owned());
    path.with_file_name(format!("{prefix}{name}{suffix}"))
}

/// The lock file beside the refresh-token file (the file itself is replaced on each save, so
/// a lock on it would lock the old copy).
pub fn lock_path(file: &Path) -> PathBuf {
    beside(file, "", ".lock")
}

/// Takes the refresh-token file's lock, or fails at once if another process holds it.
pub fn lock(file: &Path) -> Result<std::fs::File, SetupError> {
    let path = lock_path(file);
    let handle = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|source| SetupError::LockFile {
            path: path.clone(),
            source,
        })?;
    match handle.try_lock() {
        Ok(()) => Ok(handle),
        Err(std::fs::TryLockError::WouldBlock) => Err(SetupError::Locked {
            file: file.to_owned(),
            lock: path,
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(SetupError::LockFile { path, source }),
    }
}

pub(super) fn file_error(file: &Path, message: impl Into<String>) -> OAuthError {
    OAuthError::File {
        file: file.display().to_string(),
        message: message.into(),
    }
}

pub(super) fn read_refresh_token(file: &Path) -> Result<SecretString, OAuthError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| file_error(file, format!("{e}; `zendesk-crm oauth login` writes it")))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(file_error(
            file,
            "it is empty; `zendesk-crm oauth login` writes it",
        ));
    }
    Ok(SecretString::from(token.to_owned()))
}

/// Replaces the refresh-token file durably: a temporary file beside it (mode 0600), fsync,
/// rename over the old one, fsync of the directory.
pub fn save_refresh_token(file: &Path, token: &str) -> Result<(), OAuthError> {
    let lost = |what: &str, e: std::io::Error| {
        file_error(
            file,
            format!(
                "{what}: {e}. The rotated refresh token could not be saved, and Zendesk has \
                 deleted the previous one: an admin must approve again with `zendesk-crm oauth \
                 login` once the file is writable"
            ),
        )
    };
    let temp = beside(file, ".", ".tmp");
    let mut out = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)
        .map_err(|e| lost("creating the temporary file", e))?;
    out.write_all(token.as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.sync_all())
        .map_err(|e| lost("writing the temporary file", e))?;
    drop(out);
    std::fs::rename(&temp, file).map_err(|e| lost("renaming the temporary file", e))?;
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| lost("syncing the directory", e))?;
    crate::failpoint::hit(crate::failpoint::REFRESH_TOKEN_AFTER_WRITE);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret as _;

    #[test]
    fn one_refresh_file_has_one_lock_holder() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("refresh");
        let held = lock(&file).unwrap();
        assert!(matches!(lock(&file), Err(SetupError::Locked { .. })));
        drop(held);
        assert!(lock(&file).is_ok());
    }

    #[test]
    fn a_saved_refresh_token_replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("refresh");
        std::fs::write(&file, "old\n").unwrap();
        save_refresh_token(&file, "new").unwrap();
        assert_eq!(read_refresh_token(&file).unwrap().expose_secret(), "new");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["refresh"]);
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "readable by others: {mode:o}");
    }
}
