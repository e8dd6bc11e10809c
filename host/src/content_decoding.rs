//! Gzip response bodies are inflated here, natively, before the component reads them, the way
//! an HTTP client library (or a browser's `fetch`) decodes `Content-Encoding` for its caller.
//!
//! Inflating a 1000-ticket page inside the sandbox (Cranelift-compiled `miniz_oxide` and its
//! CRC-32) was the largest share of the component's CPU per record (scripts/bench). The
//! inflater here is the same crate compiled natively (`flate2` on `miniz_oxide`, which forbids
//! `unsafe`), so a hostile body meets memory-safe code either way; what the host adds is a
//! bound: it never produces more than `max_bytes` of a body (the page-size cap the component
//! applies too), so a gzip bomb costs at most that much memory, in the host as in the guest.
//! The component still inflates a gzip body that reaches it encoded (another runtime that
//! does not decode, or an old cassette), so it works in either kind of host.

use std::io::Write as _;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::{Body, Frame, SizeHint};
use wasmtime_wasi_http::{Error, WasiBody};

/// Input fed to the inflater at once: its output per call is bounded by its own buffer, and
/// the cap is checked after every call.
const INPUT_STEP: usize = 16 * 1024;

/// `response` with a gzip body replaced by its inflated bytes, at most `max_bytes` of them
/// (more is a body error naming the cap); `Content-Encoding` and `Content-Length` go, as they
/// described the encoded body. Any other response is returned as it is.
pub fn gunzip(response: http::Response<WasiBody>, max_bytes: u64) -> http::Response<WasiBody> {
    let gzip = response
        .headers()
        .get(http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
    if !gzip {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    parts.headers.remove(http::header::CONTENT_ENCODING);
    parts.headers.remove(http::header::CONTENT_LENGTH);
    let body = Gunzip {
        inner: body,
        inflater: Inflater::new(max_bytes),
    };
    http::Response::from_parts(parts, body.boxed_unsync())
}

struct Gunzip {
    inner: WasiBody,
    inflater: Inflater,
}

/// The one bounded gzip inflater of the host: for response bodies as they stream
/// ([`gunzip`]) and for whole bodies ([`inflate`], e.g. `redact-cassette`).
struct Inflater {
    /// None once the gzip stream has ended (or failed).
    decoder: Option<flate2::write::GzDecoder<Vec<u8>>>,
    produced: u64,
    max_bytes: u64,
}

impl Inflater {
    fn new(max_bytes: u64) -> Inflater {
        Inflater {
            decoder: Some(flate2::write::GzDecoder::new(Vec::new())),
            produced: 0,
            max_bytes,
        }
    }

    fn done(&self) -> bool {
        self.decoder.is_none()
    }

    /// Inflates `input`, returning what it produced. Bytes after the end of the gzip member
    /// are ignored, as the component's own inflater ignores them.
    fn feed(&mut self, mut input: &[u8]) -> Result<Bytes, Error> {
        let Some(decoder) = self.decoder.as_mut() else {
            return Ok(Bytes::new());
        };
        while !input.is_empty() {
            let step = &input[..input.len().min(INPUT_STEP)];
            let used = decoder.write(step).map_err(corrupt)?;
            if used == 0 {
                break;
            }
            input = &input[used..];
            check(self.produced, decoder.get_ref().len(), self.max_bytes)?;
        }
        let out = Bytes::from(std::mem::take(decoder.get_mut()));
        self.produced += out.len() as u64;
        Ok(out)
    }

    /// The end of the encoded body: the gzip trailer (CRC and length) must have arrived.
    fn finish(&mut self) -> Result<Bytes, Error> {
        let Some(mut decoder) = self.decoder.take() else {
            return Ok(Bytes::new());
        };
        decoder.try_finish().map_err(corrupt)?;
        check(self.produced, decoder.get_ref().len(), self.max_bytes)?;
        let out = Bytes::from(std::mem::take(decoder.get_mut()));
        self.produced += out.len() as u64;
        Ok(out)
    }
}

/// A whole gzip body inflated, at most `max_bytes` of it (more is an error naming the cap).
pub fn inflate(encoded: &[u8], max_bytes: u64) -> Result<Vec<u8>, Error> {
    let mut inflater = Inflater::new(max_bytes);
    let mut out = inflater.feed(encoded)?.to_vec();
    out.extend_from_slice(&inflater.finish()?);
    Ok(out)
}

/// More than `max_bytes` once the `pending` output is counted is an error naming the cap.
fn check(produced: u64, pending: usize, max_bytes: u64) -> Result<(), Error> {
    if produced + pending as u64 > max_bytes {
        return Err(Error::HttpResponseBodySize(Some(max_bytes)));
    }
    Ok(())
}

fn corrupt(e: std::io::Error) -> Error {
    Error::InternalError(Some(format!("gzip body could not be inflated: {e}")))
}

impl Body for Gunzip {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        loop {
            let out = match ready!(Pin::new(&mut self.inner).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => self.inflater.feed(&data),
                    // Trailers pass through.
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                Some(Err(e)) => Err(e),
                None if self.inflater.done() => return Poll::Ready(None),
                None => self.inflater.finish(),
            };
            match out {
                Ok(out) if out.is_empty() => {
                    if self.inflater.done() && self.inner.is_end_stream() {
                        return Poll::Ready(None);
                    }
                }
                Ok(out) => return Poll::Ready(Some(Ok(Frame::data(out)))),
                Err(e) => {
                    self.inflater.decoder = None;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// A body that hands out its chunks one frame at a time.
    struct Chunks(std::collections::VecDeque<Bytes>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
            Poll::Ready(self.0.pop_front().map(|c| Ok(Frame::data(c))))
        }
    }

    /// A gzip response whose encoded body arrives in chunks of `chunk` bytes.
    fn response(encoded: Vec<u8>, chunk: usize) -> http::Response<WasiBody> {
        let chunks = encoded.chunks(chunk).map(Bytes::copy_from_slice).collect();
        http::Response::builder()
            .header("content-encoding", "gzip")
            .header("content-length", encoded.len())
            .header("content-type", "application/json")
            .body(Chunks(chunks).boxed_unsync())
            .unwrap()
    }

    async fn read(response: http::Response<WasiBody>) -> Result<Vec<u8>, Error> {
        Ok(response.into_body().collect().await?.to_bytes().to_vec())
    }

    #[tokio::test]
    async fn a_gzip_body_reaches_the_guest_inflated_whatever_its_chunks() {
        let json = br#"{"tickets":[{"id":1}],"end_of_stream":true}"#.repeat(500);
        for chunk in [1, 7, 4096, 1 << 20] {
            let decoded = gunzip(response(gzip(&json), chunk), 1 << 20);
            assert_eq!(decoded.headers().get("content-encoding"), None);
            assert_eq!(decoded.headers().get("content-length"), None);
            assert_eq!(decoded.headers()["content-type"], "application/json");
            assert_eq!(read(decoded).await.unwrap(), json, "chunks of {chunk}");
        }
    }

    #[tokio::test]
    async fn other_bodies_pass_untouched() {
        let plain = http::Response::builder()
            .header("content-length", "2")
            .body(
                Full::new(Bytes::from_static(b"{}"))
                    .map_err(|e| match e {})
                    .boxed_unsync(),
            )
            .unwrap();
        let passed = gunzip(plain, 1);
        assert_eq!(passed.headers()["content-length"], "2");
        assert_eq!(read(passed).await.unwrap(), b"{}");
    }

    #[test]
    fn a_whole_body_inflates_within_the_cap_and_a_bomb_stops_at_it() {
        let page = vec![b'x'; 100_000];
        assert_eq!(inflate(&gzip(&page), 100_000).unwrap(), page);
        let e = inflate(&gzip(&page), 99_999).unwrap_err();
        assert!(
            matches!(e, Error::HttpResponseBodySize(Some(99_999))),
            "{e:?}"
        );
        let cut = gzip(&page);
        assert!(
            inflate(&cut[..cut.len() - 4], 1 << 20).is_err(),
            "a torn trailer"
        );
    }

    #[tokio::test]
    async fn a_gzip_bomb_stops_at_the_cap() {
        let bomb = gzip(&vec![b' '; 64 << 20]);
        let error = read(gunzip(response(bomb, 64 * 1024), 1 << 20))
            .await
            .unwrap_err();
        assert!(
            matches!(error, Error::HttpResponseBodySize(Some(cap)) if cap == 1 << 20),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_truncated_or_corrupt_body_is_an_error_naming_gzip() {
        let encoded = gzip(&br#"{"tickets":[]}"#.repeat(100));
        let truncated = encoded[..encoded.len() - 4].to_vec();
        let mut corrupt = encoded.clone();
        let at = corrupt.len() / 2;
        corrupt[at] ^= 0xff;
        for body in [truncated, corrupt] {
            let error = read(gunzip(response(body, 64), 1 << 20)).await.unwrap_err();
            assert!(error.to_string().contains("gzip"), "{error}");
        }
    }
}
