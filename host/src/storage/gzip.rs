//! `OUTPUT_COMPRESSION=gzip`: page objects are compressed by the host's storage layer, the
//! same way whichever store holds them, under the key `{key}.gz` with `Content-Encoding:
//! gzip`. The checkpoint is never compressed.
//!
//! The gzip bytes are a pure function of the body (no modification time, no file name, a fixed
//! OS byte, one compression level), so a replayed pass stores byte-identical objects.

use std::io::Write as _;
use std::sync::Arc;

use flate2::GzBuilder;

use super::keys::MAX_KEY_BYTES;
use super::{Put, SaveMode, Storage, StorageError};

/// How page objects are encoded before they are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    None,
    Gzip,
}

/// Wraps `inner` so its page objects are gzip-compressed, or returns it as it is.
pub fn wrap(inner: Arc<dyn Storage>, compression: Compression) -> Arc<dyn Storage> {
    match compression {
        Compression::None => inner,
        Compression::Gzip => Arc::new(Gzipped { inner }),
    }
}

/// `body` gzip-compressed, deterministically.
pub fn compress(body: &[u8]) -> std::io::Result<Vec<u8>> {
    // "Unknown" OS (255) rather than the builder's guess, and mtime 0 (none): no byte of the
    // output depends on the machine or the clock.
    let mut encoder = GzBuilder::new().mtime(0).operating_system(255).write(
        Vec::with_capacity(body.len() / 4 + 64),
        flate2::Compression::new(6),
    );
    encoder.write_all(body)?;
    encoder.finish()
}

struct Gzipped {
    inner: Arc<dyn Storage>,
}

#[async_trait::async_trait]
impl Storage for Gzipped {
    async fn put_object(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        _content_encoding: Option<&str>,
    ) -> Result<Put, StorageError> {
        let key = format!("{key}.gz");
        if key.len() > MAX_KEY_BYTES {
            return Err(StorageError::InvalidKey(format!(
                "{key:?} is longer than {MAX_KEY_BYTES} bytes"
            )));
        }
        let body = tokio::task::spawn_blocking(move || compress(&body))
            .await
            .map_err(|e| StorageError::Unavailable(format!("compression task failed: {e}")))?
            .map_err(|e| StorageError::Unavailable(format!("compressing {key}: {e}")))?;
        self.inner
            .put_object(&key, body, content_type, Some("gzip"))
            .await
    }

    async fn load_checkpoint(&self) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.load_checkpoint().await
    }

    async fn probe_reachable(&self) -> Result<String, StorageError> {
        self.inner.probe_reachable().await
    }

    async fn probe_write(&self, key: &str) -> Result<(), StorageError> {
        self.inner.probe_write(key).await
    }

    async fn save_checkpoint(&self, bytes: Vec<u8>, mode: SaveMode) -> Result<(), StorageError> {
        self.inner.save_checkpoint(bytes, mode).await
    }

    async fn reset_checkpoint(&self, now_unix: i64) -> Result<Option<String>, StorageError> {
        self.inner.reset_checkpoint(now_unix).await
    }

    fn checkpoint_location(&self) -> String {
        self.inner.checkpoint_location()
    }

    fn lost_race(&self) -> Option<String> {
        self.inner.lost_race()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    #[test]
    fn compression_is_deterministic_and_round_trips() {
        let body = br#"{"tickets":[{"id":1}],"end_of_stream":true}"#.repeat(50);
        let a = compress(&body).unwrap();
        let b = compress(&body).unwrap();
        assert_eq!(a, b);
        // Magic, deflate, no flags, mtime 0, OS unknown.
        assert_eq!(&a[..4], &[0x1f, 0x8b, 8, 0]);
        assert_eq!(&a[4..8], &[0, 0, 0, 0]);
        assert_eq!(a[9], 255);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&a[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, body);
        assert!(a.len() < body.len());
    }
}
