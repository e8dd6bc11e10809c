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
//!
//! The encoded body (a tenth of a page) is gathered first and inflated once, into a buffer
//! of the size its gzip trailer announces, and handed to the component as one frame. The
//! component reads whole bodies anyway; inflating frame by frame instead produced a frame per
//! network read, each grown from empty, which the component then had to join: two more
//! copies of every page, and the component's memory held a page twice at its peak.

use std::future::Future;
use std::io::Read as _;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::{Body, Frame, SizeHint};
use wasmtime_wasi_http::{Error, WasiBody};

/// `response` with a gzip body replaced by its inflated bytes, at most `max_bytes` of them:
/// a body that inflates to more is cut there and ends in a body error naming the cap (the
/// component, whose own cap is lower, reads past its cap and reports the body too large).
/// `Content-Encoding` and `Content-Length` go, as they described the encoded body. Any other
/// response is returned as it is.
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
        inflating: Some(Box::pin(inflate_body(body, max_bytes))),
        rest: None,
    };
    http::Response::from_parts(parts, body.boxed_unsync())
}

type Inflating = Pin<Box<dyn Future<Output = Result<Inflated, Error>> + Send>>;

/// The inflated body in one frame, then its trailers (if the encoded one had any) or the
/// error that cut it, then the end.
struct Gunzip {
    /// None once the inflated frame has been handed out (or the body failed).
    inflating: Option<Inflating>,
    rest: Option<Result<http::HeaderMap, Error>>,
}

struct Inflated {
    data: Bytes,
    rest: Option<Result<http::HeaderMap, Error>>,
}

/// Most encoded bytes gathered for a body of at most `max_bytes`: deflate's stored blocks add
/// five bytes in 65,535, gzip's header and trailer a few dozen; the rest is slack for
/// optional header fields.
fn encoded_cap(max_bytes: u64) -> u64 {
    max_bytes
        .saturating_add(max_bytes / 8192)
        .saturating_add(64 * 1024)
}

async fn inflate_body(mut body: WasiBody, max_bytes: u64) -> Result<Inflated, Error> {
    let cap = encoded_cap(max_bytes);
    let mut encoded: Vec<u8> = Vec::new();
    let mut rest = None;
    while let Some(frame) = body.frame().await {
        match frame?.into_data() {
            Ok(data) => {
                if (encoded.len() + data.len()) as u64 > cap {
                    return Err(Error::HttpResponseBodySize(Some(max_bytes)));
                }
                if encoded.is_empty() {
                    encoded.reserve_exact(
                        body.size_hint()
                            .upper()
                            .map_or(0, |n| (n.min(cap) as usize).saturating_add(data.len())),
                    );
                }
                encoded.extend_from_slice(&data);
            }
            Err(frame) => rest = frame.into_trailers().ok().map(Ok),
        }
    }
    let mut data = inflate_at_most(&encoded, max_bytes.saturating_add(1))?;
    if data.len() as u64 > max_bytes {
        data.truncate(usize::try_from(max_bytes).unwrap_or(usize::MAX));
        rest = Some(Err(Error::HttpResponseBodySize(Some(max_bytes))));
    }
    Ok(Inflated {
        data: Bytes::from(data),
        rest,
    })
}

/// A whole gzip body inflated, at most `max_bytes` of it (more is an error naming the cap, and
/// inflating stops there). Bytes after the end of the gzip member are ignored, as the
/// component's own inflater ignores them.
pub fn inflate(encoded: &[u8], max_bytes: u64) -> Result<Vec<u8>, Error> {
    let out = inflate_at_most(encoded, max_bytes.saturating_add(1))?;
    if out.len() as u64 > max_bytes {
        return Err(Error::HttpResponseBodySize(Some(max_bytes)));
    }
    Ok(out)
}

/// The first `most` bytes of a gzip body inflated (all of it if shorter), or why it is not
/// gzip. `bufread`'s decoder writes straight into the buffer (`write`'s copies through one of
/// its own).
fn inflate_at_most(encoded: &[u8], most: u64) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(inflated_size_hint(encoded, most));
    flate2::bufread::GzDecoder::new(encoded)
        .take(most)
        .read_to_end(&mut out)
        .map_err(|e| Error::InternalError(Some(format!("gzip body could not be inflated: {e}"))))?;
    Ok(out)
}

/// The inflated size the gzip trailer announces (ISIZE, the size modulo 2^32), trusted only
/// as far as `most` and deflate's best ratio (1032:1) allow: it only sizes the buffer, which
/// still grows if the trailer understated it.
fn inflated_size_hint(encoded: &[u8], most: u64) -> usize {
    let Some(trailer) = encoded.len().checked_sub(4).map(|at| &encoded[at..]) else {
        return 0;
    };
    let announced = u64::from(u32::from_le_bytes(trailer.try_into().unwrap_or([0; 4])));
    let bound = (encoded.len() as u64).saturating_mul(1032).min(most);
    usize::try_from(announced.min(bound)).unwrap_or(0)
}

impl Body for Gunzip {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let Some(inflating) = self.inflating.as_mut() else {
            return Poll::Ready(self.rest.take().map(|r| r.map(Frame::trailers)));
        };
        let inflated = ready!(inflating.as_mut().poll(cx));
        self.inflating = None;
        Poll::Ready(match inflated {
            Ok(Inflated { data, rest }) => {
                self.rest = rest;
                if data.is_empty() {
                    self.rest.take().map(|r| r.map(Frame::trailers))
                } else {
                    Some(Ok(Frame::data(data)))
                }
            }
            Err(e) => Some(Err(e)),
        })
    }

    fn is_end_stream(&self) -> bool {
        self.inflating.is_none() && self.rest.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;
    use std::io::Write as _;

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
    async fn the_component_reads_an_inflated_body_in_one_frame() {
        let json = br#"{"tickets":[{"id":1}],"end_of_stream":true}"#.repeat(5000);
        let mut body = gunzip(response(gzip(&json), 1024), 1 << 20).into_body();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first, json);
        assert!(body.frame().await.is_none());
        assert!(body.is_end_stream());
    }

    #[test]
    fn a_trailer_that_misstates_the_size_only_sizes_the_buffer() {
        let page = vec![b'x'; 100_000];
        for announced in [0u32, 10, 200_000, u32::MAX] {
            let mut encoded = gzip(&page);
            let at = encoded.len() - 4;
            // The decoder checks ISIZE, so a false one is refused, but never over-allocates.
            encoded[at..].copy_from_slice(&announced.to_le_bytes());
            assert!(inflated_size_hint(&encoded, 150_000) <= 150_000);
            assert!(inflate(&encoded, 150_000).is_err(), "{announced}");
        }
        assert_eq!(inflated_size_hint(&gzip(&page), 1 << 20), 100_000);
    }

    #[tokio::test]
    async fn an_encoded_body_far_past_the_cap_is_refused_unread() {
        // Stored (uncompressed) deflate blocks: the encoded body alone is past the cap.
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
        e.write_all(&vec![7u8; 4 << 20]).unwrap();
        let error = read(gunzip(response(e.finish().unwrap(), 64 * 1024), 1 << 20))
            .await
            .unwrap_err();
        assert!(
            matches!(error, Error::HttpResponseBodySize(Some(cap)) if cap == 1 << 20),
            "{error:?}"
        );
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
        let error = read(gunzip(response(bomb.clone(), 64 * 1024), 1 << 20))
            .await
            .unwrap_err();
        assert!(
            matches!(error, Error::HttpResponseBodySize(Some(cap)) if cap == 1 << 20),
            "{error:?}"
        );
        // The cap's worth is handed over first, so a component with a lower cap of its own
        // reads past it and names its own.
        let mut body = gunzip(response(bomb, 64 * 1024), 1 << 20).into_body();
        let data = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(data.len(), 1 << 20);
        assert!(body.frame().await.unwrap().is_err());
        assert!(body.frame().await.is_none());
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
