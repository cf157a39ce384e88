//! The connections `serve` hands to the HTTP layer. hyper answers a request it cannot parse
//! itself, before anything of didhub runs: a URL over 65,534 bytes (414), a request head over
//! its buffer (431), bytes that are not HTTP (400), each with a status line and no body. Those
//! answers are rewritten here into the problem+json every other error is, so that a client
//! reads one kind of error whatever refused its request.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::error::ApiError;

pub struct Conn {
    io: TcpStream,
    /// A replacement being written: its bytes, how many are out, and how many bytes of hyper's
    /// own answer it stands for (reported written once it is all out).
    rewrite: Option<(Vec<u8>, usize, usize)>,
}

impl Conn {
    pub fn new(io: TcpStream) -> Self {
        Conn { io, rewrite: None }
    }

    /// Writes the replacement out; `Ready` once all of it is, with the length it stands for.
    fn poll_rewrite(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let Some((bytes, out, stands_for)) = &mut self.rewrite else {
            return Poll::Ready(Ok(0));
        };
        while *out < bytes.len() {
            match ready!(Pin::new(&mut self.io).poll_write(cx, &bytes[*out..])) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => *out += n,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        let n = *stands_for;
        self.rewrite = None;
        Poll::Ready(Ok(n))
    }
}

/// The problem+json response for one of hyper's own error answers, if `buf` is one: a status
/// line of 400, 414 or 431, no content type and an empty body (`content-length: 0`), and
/// nothing after the head. didhub's own errors always carry a content type.
fn replacement(buf: &[u8]) -> Option<Vec<u8>> {
    // The common case (every response but a 4xx) is settled by these few bytes.
    let status = buf.strip_prefix(b"HTTP/1.1 4")?;
    let error = match status.get(..2)? {
        b"00" => ApiError::BadRequest("the request is not valid HTTP".into()),
        b"14" => ApiError::UriTooLong(format!("the URL is over {} bytes", crate::MAX_URI)),
        b"31" => ApiError::HeadTooLarge("the request's URL and headers are too large".into()),
        _ => return None,
    };
    let head = std::str::from_utf8(buf).ok()?.strip_suffix("\r\n\r\n")?;
    if head.contains("\r\n\r\n") {
        return None;
    }
    let mut empty = false;
    for line in head.lines().skip(1) {
        let (name, value) = line.split_once(':')?;
        let name = name.trim().to_ascii_lowercase();
        if name == "content-type" {
            return None;
        }
        if name == "content-length" {
            empty = value.trim() == "0";
        }
    }
    if !empty {
        return None;
    }
    let p = error.problem();
    let body = serde_json::to_string(&p).ok()?;
    let reason = error.status().canonical_reason().unwrap_or("");
    Some(
        format!(
            "HTTP/1.1 {} {reason}\r\ncontent-type: \
                application/problem+json\r\ncontent-length: {}\r\nconnection: \
                close\r\n\r\n{body}",
            p.status,
            body.len()
        )
        .into_bytes(),
    )
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.rewrite.is_none() {
            if let Some(bytes) = replacement(buf) {
                this.rewrite = Some((bytes, 0, buf.len()));
            }
        }
        if this.rewrite.is_some() {
            return this.poll_rewrite(cx);
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.rewrite.is_none() {
            // A response's head comes first; hyper's own answers are a head alone.
            if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
                if let Some(bytes) = replacement(first) {
                    this.rewrite = Some((bytes, 0, first.len()));
                }
            }
        }
        if this.rewrite.is_some() {
            return this.poll_rewrite(cx);
        }
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_own_answers_are_rewritten() {
        let own = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: Sun, 01 Jan 2026 00:00:00 GMT\r\n\r\n";
        let r = String::from_utf8(replacement(own).unwrap()).unwrap();
        let (head, body) = r.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{head}");
        assert!(head.contains("content-type: application/problem+json"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let p: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(p["type"], "urn:didhub:problem:uri-too-long");
        assert_eq!(p["status"], 414);
        for (own, kind) in [
            (
                &b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n"[..],
                "head-too-large",
            ),
            (
                &b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"[..],
                "bad-request",
            ),
        ] {
            let r = String::from_utf8(replacement(own).unwrap()).unwrap();
            assert!(r.contains(kind), "{r}");
        }
        for theirs in [
            // didhub's own errors, a success, a head with its body, a HEAD answer's head.
            &b"HTTP/1.1 414 URI Too Long\r\ncontent-type: application/problem+json\r\ncontent-length: 10\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 120\r\n\r\n",
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 4",
        ] {
            assert!(replacement(theirs).is_none(), "{}", String::from_utf8_lossy(theirs));
        }
    }
}
