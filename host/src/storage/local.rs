//! The embedded default store: a local directory holding exactly the keys S3 would.
//!
//! Objects are written to a temporary file, fsynced, and hard-linked into place, which fails
//! if the key exists (create-only, never replacing). The checkpoint is replaced atomically
//! (temporary file, fsync, rename, fsync of the directory). An OS advisory lock on
//! `{STATE_KEY}.lock`, released by the kernel when the process dies, keeps two passes off one
//! checkpoint.

use std::fs::{self, File, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::keys::check_relative;
use super::{Put, SaveMode, Storage, StorageError};
use crate::failpoint;

/// Why the directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("STATE_KEY {0}")]
    BadStateKey(String),
    #[error("another pass holds the checkpoint lock {0}")]
    Locked(PathBuf),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

pub struct LocalStore {
    root: PathBuf,
    state_path: PathBuf,
    /// Held for the store's lifetime; dropping it releases the lock. None for `check`, which
    /// writes nothing and so needs no lock.
    _lock: Option<File>,
}

impl LocalStore {
    /// Opens (creating) `root` and takes the checkpoint lock.
    pub fn open(root: &Path, state_key: &str) -> Result<LocalStore, OpenError> {
        check_relative(state_key).map_err(OpenError::BadStateKey)?;
        let state_path = root.join(state_key);
        let state_dir = state_path.parent().unwrap_or(root).to_path_buf();
        fs::create_dir_all(&state_dir).map_err(|source| OpenError::Io {
            path: state_dir.clone(),
            source,
        })?;
        let lock_path = with_suffix(&state_path, ".lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| OpenError::Io {
                path: lock_path.clone(),
                source,
            })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(OpenError::Locked(lock_path)),
            Err(TryLockError::Error(source)) => {
                return Err(OpenError::Io {
                    path: lock_path,
                    source,
                });
            }
        }
        Ok(LocalStore {
            root: root.to_path_buf(),
            state_path,
            _lock: Some(lock),
        })
    }

    /// The store as `check` sees it: nothing created, no lock taken (a pass may be running).
    pub fn open_for_check(root: &Path, state_key: &str) -> Result<LocalStore, OpenError> {
        check_relative(state_key).map_err(OpenError::BadStateKey)?;
        Ok(LocalStore {
            root: root.to_path_buf(),
            state_path: root.join(state_key),
            _lock: None,
        })
    }

    /// Moves the checkpoint aside (kept as `{STATE_KEY}.reset-{unix}` for the record) so the
    /// next pass is a first run. Returns where it went, or none if there was none.
    pub fn reset_checkpoint(&self, now_unix: i64) -> Result<Option<PathBuf>, StorageError> {
        let aside = with_suffix(&self.state_path, &format!(".reset-{now_unix}"));
        match fs::rename(&self.state_path, &aside) {
            Ok(()) => Ok(Some(aside)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(&self.state_path, e)),
        }
    }

    pub fn state_path(&self) -> &Path {
        &self.state_path
    }
}

#[async_trait::async_trait]
impl Storage for LocalStore {
    async fn put_object(
        &self,
        key: &str,
        body: Vec<u8>,
        _content_type: &str,
        _content_encoding: Option<&str>,
    ) -> Result<Put, StorageError> {
        check_relative(key).map_err(StorageError::InvalidKey)?;
        let path = self.root.join(key);
        blocking(move || match create_only(&path, &body, &OBJECT_POINTS) {
            Ok(true) => Ok(Put::Created),
            Ok(false) => Ok(Put::AlreadyExisted),
            Err(e) => Err(io_error(&path, e)),
        })
        .await
    }

    async fn load_checkpoint(&self) -> Result<Option<Vec<u8>>, StorageError> {
        let path = self.state_path.clone();
        blocking(move || match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(&path, e)),
        })
        .await
    }

    async fn save_checkpoint(&self, bytes: Vec<u8>, mode: SaveMode) -> Result<(), StorageError> {
        let path = self.state_path.clone();
        blocking(move || match mode {
            SaveMode::Create => match create_only(&path, &bytes, &CHECKPOINT_POINTS) {
                Ok(true) => Ok(()),
                Ok(false) => Err(StorageError::Conflict(path.display().to_string())),
                Err(e) => Err(io_error(&path, e)),
            },
            SaveMode::Replace => replace(&path, &bytes).map_err(|e| io_error(&path, e)),
        })
        .await
    }

    async fn reset_checkpoint(&self, now_unix: i64) -> Result<Option<String>, StorageError> {
        // A rename: the old checkpoint is moved, not copied.
        LocalStore::reset_checkpoint(self, now_unix)
            .map(|aside| aside.map(|p| p.display().to_string()))
    }

    fn checkpoint_location(&self) -> String {
        self.state_path.display().to_string()
    }

    async fn probe_reachable(&self) -> Result<String, StorageError> {
        let root = self.root.clone();
        blocking(move || match fs::metadata(&root) {
            Ok(m) if m.is_dir() => Ok(format!("directory {}", root.display())),
            Ok(_) => Err(StorageError::Unavailable(format!(
                "{} is not a directory; point --out (OUT_DIR) at a directory",
                root.display()
            ))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(format!(
                "directory {} (not there yet: the first pass creates it)",
                root.display()
            )),
            Err(e) => Err(io_error(&root, e)),
        })
        .await
    }

    async fn probe_write(&self, key: &str) -> Result<(), StorageError> {
        check_relative(key).map_err(StorageError::InvalidKey)?;
        let path = self.root.join(key);
        blocking(move || probe_dir(&path)).await
    }
}

/// Whether a file could be created beside `path`: a temporary file of the store's own
/// pattern (which a pass removes should this one be left) is created and removed in the
/// nearest directory that exists, since a pass creates the rest.
fn probe_dir(path: &Path) -> Result<(), StorageError> {
    let mut dir = path.parent();
    while let Some(d) = dir {
        // A relative path's last parent is empty: the working directory.
        let d = if d.as_os_str().is_empty() {
            Path::new(".")
        } else {
            d
        };
        dir = Some(d);
        match fs::metadata(d) {
            Ok(m) if m.is_dir() => break,
            Ok(_) => {
                return Err(StorageError::Unavailable(format!(
                    "{} is a file where a directory must be",
                    d.display()
                )));
            }
            Err(_) => dir = d.parent(),
        }
    }
    let Some(dir) = dir else {
        return Ok(());
    };
    let tmp = temp_path(&dir.join("zendesk-crm-check"));
    match File::create_new(&tmp) {
        Ok(_) => fs::remove_file(&tmp).map_err(|e| io_error(&tmp, e)),
        Err(e) => Err(io_error(dir, e)),
    }
}

/// Runs a file operation off the async threads, except on a current-thread runtime (a `run`
/// of one account): there the pass is the only task and waits for the write anyway, so it
/// runs in place, without handing each write to the blocking pool and back.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    if tokio::runtime::Handle::current().runtime_flavor()
        == tokio::runtime::RuntimeFlavor::CurrentThread
    {
        return f();
    }
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StorageError::Unavailable(format!("storage task failed: {e}")))?
}

fn io_error(path: &Path, e: io::Error) -> StorageError {
    let m = format!("{}: {e}", path.display());
    if e.kind() == io::ErrorKind::PermissionDenied {
        StorageError::Denied(m)
    } else {
        StorageError::Unavailable(m)
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The failpoints of one kind of write: before, with the temporary file written, after.
struct Points {
    before: &'static str,
    after_temp: &'static str,
    after: &'static str,
}

const OBJECT_POINTS: Points = Points {
    before: failpoint::OBJECT_BEFORE_WRITE,
    after_temp: failpoint::OBJECT_AFTER_TEMP_WRITE,
    after: failpoint::OBJECT_AFTER_WRITE,
};

const CHECKPOINT_POINTS: Points = Points {
    before: failpoint::CHECKPOINT_BEFORE_WRITE,
    after_temp: failpoint::CHECKPOINT_AFTER_TEMP_WRITE,
    after: failpoint::CHECKPOINT_AFTER_WRITE,
};

/// A temporary sibling no other writer picks: dot-prefixed, with the pid and a counter.
fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

/// Writes `bytes` to a new temporary sibling of `path`, fsynced, and returns where. A crashed
/// process may have left a temporary file with the name this one picks (pids are reused), so
/// a name that exists is skipped, never reused or removed.
fn write_temp(path: &Path, bytes: &[u8]) -> io::Result<PathBuf> {
    let mut attempts = 0;
    loop {
        let tmp = temp_path(path);
        match write_synced(&tmp, bytes) {
            Ok(()) => return Ok(tmp),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 64 => attempts += 1,
            Err(e) => {
                if e.kind() != io::ErrorKind::AlreadyExists {
                    let _ = fs::remove_file(&tmp);
                }
                return Err(e);
            }
        }
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = File::create_new(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn sync_dir(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// Writes `bytes` at `path` only if nothing is there. Ok(false): something was, untouched.
fn create_only(path: &Path, bytes: &[u8], points: &Points) -> io::Result<bool> {
    failpoint::hit(points.before);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let tmp = write_temp(path, bytes)?;
    failpoint::hit(points.after_temp);
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            sync_dir(path)?;
            failpoint::hit(points.after);
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Replaces `path` atomically: readers see the old bytes or the new, never a mix.
fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    failpoint::hit(CHECKPOINT_POINTS.before);
    let tmp = write_temp(path, bytes)?;
    failpoint::hit(CHECKPOINT_POINTS.after_temp);
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(path)?;
    failpoint::hit(CHECKPOINT_POINTS.after);
    Ok(())
}

/// A temporary file older than this has no live writer: a write and its fsync take seconds,
/// and the file's time moves with every write. Younger ones may belong to another process
/// sharing the directory (another feed's pass with an overlapping prefix) and are left for a
/// later pass.
pub const STALE_TEMP_AGE: std::time::Duration = std::time::Duration::from_secs(300);

/// Removes the temporary files of [`temp_path`]'s pattern (`.{name}.{pid}.{n}.tmp`) that a
/// killed writer left under `{root}/{prefix}` and beside the checkpoint, once older than
/// [`STALE_TEMP_AGE`]. Called by the pass that holds the checkpoint lock, so no pass of this
/// store is writing them. Best effort: what cannot be listed or removed is left. Returns the
/// paths removed.
pub fn remove_stale_temps(root: &Path, prefix: &str, state_path: &Path) -> Vec<PathBuf> {
    let now = std::time::SystemTime::now();
    let stale = |path: &Path| {
        fs::symlink_metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age >= STALE_TEMP_AGE)
    };
    let mut removed = Vec::new();
    let mut remove = |path: PathBuf| {
        if stale(&path) && fs::remove_file(&path).is_ok() {
            removed.push(path);
        }
    };
    // Beside the checkpoint: only its own temporary files (other files there are not ours).
    if let (Some(dir), Some(name)) = (state_path.parent(), state_path.file_name()) {
        let name = name.to_string_lossy();
        for path in temp_files_in(dir) {
            if temp_target(&path).as_deref() == Some(&*name) {
                remove(path);
            }
        }
    }
    // Page objects: every directory under the prefix, without following links.
    let prefix = prefix.trim_end_matches('/');
    let objects = if prefix.is_empty() {
        Some(root.to_path_buf())
    } else {
        check_relative(prefix).ok().map(|()| root.join(prefix))
    };
    let mut dirs: Vec<PathBuf> = objects.into_iter().collect();
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => dirs.push(path),
                Ok(t) if t.is_file() && temp_target(&path).is_some() => remove(path),
                _ => {}
            }
        }
    }
    removed
}

fn temp_files_in(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| temp_target(p).is_some())
                .collect()
        })
        .unwrap_or_default()
}

/// The file a temporary file of [`temp_path`]'s pattern was written for, if it is one.
fn temp_target(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let rest = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (rest, counter) = rest.rsplit_once('.')?;
    let (target, pid) = rest.rsplit_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(counter) && digits(pid) && !target.is_empty()).then(|| target.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("zc-local-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[tokio::test]
    async fn objects_are_create_only() {
        let dir = temp_dir("objects");
        let s = LocalStore::open(&dir, "p/state.json").unwrap();
        assert_eq!(
            s.put_object("p/a/b.json", b"one".to_vec(), "application/json", None)
                .await
                .unwrap(),
            Put::Created
        );
        assert_eq!(
            s.put_object("p/a/b.json", b"two".to_vec(), "application/json", None)
                .await
                .unwrap(),
            Put::AlreadyExisted
        );
        assert_eq!(fs::read(dir.join("p/a/b.json")).unwrap(), b"one");
        let leftovers: Vec<_> = fs::read_dir(dir.join("p/a")).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temporary files left behind");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn checkpoint_first_save_is_create_only_then_replaces() {
        let dir = temp_dir("checkpoint");
        let s = LocalStore::open(&dir, "state.json").unwrap();
        assert_eq!(s.load_checkpoint().await.unwrap(), None);
        s.save_checkpoint(b"1".to_vec(), SaveMode::Create)
            .await
            .unwrap();
        assert!(matches!(
            s.save_checkpoint(b"x".to_vec(), SaveMode::Create).await,
            Err(StorageError::Conflict(_))
        ));
        s.save_checkpoint(b"2".to_vec(), SaveMode::Replace)
            .await
            .unwrap();
        assert_eq!(s.load_checkpoint().await.unwrap(), Some(b"2".to_vec()));
        let aside = s.reset_checkpoint(42).unwrap().unwrap();
        assert!(aside.ends_with("state.json.reset-42"));
        assert_eq!(s.load_checkpoint().await.unwrap(), None);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn temporary_files_a_crashed_process_left_are_skipped_not_reused() {
        let dir = temp_dir("leftovers");
        let s = LocalStore::open(&dir, "state.json").unwrap();
        fs::create_dir_all(dir.join("p")).unwrap();
        // The names the next writes of this process would pick, taken by a "crashed" one.
        let next = temp_path(&dir.join("p/a.json"));
        let n: u64 = next
            .to_string_lossy()
            .rsplit('.')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let pid = std::process::id();
        let mut left = Vec::new();
        for i in n + 1..n + 4 {
            for name in ["a.json", "state.json"] {
                let sub = if name == "a.json" { "p/" } else { "" };
                let p = dir.join(format!("{sub}.{name}.{pid}.{i}.tmp"));
                fs::write(&p, b"torn").unwrap();
                left.push(p);
            }
        }
        assert_eq!(
            s.put_object("p/a.json", b"one".to_vec(), "application/json", None)
                .await
                .unwrap(),
            Put::Created
        );
        s.save_checkpoint(b"1".to_vec(), SaveMode::Create)
            .await
            .unwrap();
        s.save_checkpoint(b"2".to_vec(), SaveMode::Replace)
            .await
            .unwrap();
        assert_eq!(fs::read(dir.join("p/a.json")).unwrap(), b"one");
        assert_eq!(s.load_checkpoint().await.unwrap(), Some(b"2".to_vec()));
        for p in left {
            assert_eq!(fs::read(&p).unwrap(), b"torn", "{p:?} was touched");
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stale_temporary_files_of_this_store_are_removed_and_nothing_else() {
        let dir = temp_dir("tidy");
        let state = dir.join("zendesk/crm-state/state.json");
        let day = dir.join("zendesk/crm/2025/06/15");
        let other = dir.join("other-feed");
        for d in [state.parent().unwrap(), &day, &other] {
            fs::create_dir_all(d).unwrap();
        }
        let old = std::time::SystemTime::now() - STALE_TEMP_AGE * 2;
        let write = |path: PathBuf, aged: bool| {
            let f = File::create(&path).unwrap();
            if aged {
                f.set_modified(old).unwrap();
            }
            path
        };
        let stale_page = write(day.join(".150640-ab-zendesk-x.json.4242.0.tmp"), true);
        let stale_state = write(state.with_file_name(".state.json.4242.3.tmp"), true);
        let fresh = write(day.join(".150641-cd-zendesk-x.json.4243.0.tmp"), false);
        let not_ours = [
            write(day.join(".150642-ef-zendesk-x.json.tmp"), true),
            write(day.join("notes.tmp"), true),
            write(state.with_file_name(".other.json.4242.0.tmp"), true),
            write(other.join(".a.json.4242.0.tmp"), true),
        ];
        let mut removed = remove_stale_temps(&dir, "zendesk/crm/", &state);
        removed.sort();
        let mut expected = vec![stale_page, stale_state];
        expected.sort();
        assert_eq!(removed, expected);
        for kept in not_ours.iter().chain([&fresh]) {
            assert!(kept.exists(), "{kept:?} was removed");
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_second_store_on_the_same_checkpoint_is_locked_out() {
        let dir = temp_dir("lock");
        let first = LocalStore::open(&dir, "state.json").unwrap();
        assert!(matches!(
            LocalStore::open(&dir, "state.json"),
            Err(OpenError::Locked(_))
        ));
        drop(first);
        assert!(LocalStore::open(&dir, "state.json").is_ok());
        fs::remove_dir_all(&dir).unwrap();
    }
}
