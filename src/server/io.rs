//! Connection timeouts at the socket (http-api spec §8), as a wrapper around the
//! stream: a request's head must arrive within `header_timeout` of its first byte (or
//! of the connection opening), and a keep-alive connection may sit idle between
//! requests for `idle_timeout`. Either expiry fails the next read, which closes the
//! connection without an answer — so clients that connect and send nothing, or
//! trickle headers, cannot pin a connection for long.
//!
//! The wrapper knows the head is complete when it sees an empty line; body and
//! handler time are the application's business (body read deadline, handler
//! deadlines).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for (the rest of) a request head.
    Head,
    /// A request is being served; no socket deadline.
    Busy,
    /// A response was written; waiting for the next request.
    Idle,
}

/// A stream with head and idle deadlines.
#[derive(Debug)]
pub struct TimedIo<T> {
    inner: T,
    phase: Phase,
    deadline: Pin<Box<Sleep>>,
    header_timeout: Duration,
    idle_timeout: Duration,
    after_newline: bool,
}

impl<T> TimedIo<T> {
    /// Wraps a freshly accepted stream: the first head is due within `header_timeout`.
    pub fn new(inner: T, header_timeout: Duration, idle_timeout: Duration) -> Self {
        TimedIo {
            inner,
            phase: Phase::Head,
            deadline: Box::pin(tokio::time::sleep(header_timeout)),
            header_timeout,
            idle_timeout,
            after_newline: false,
        }
    }

    fn saw_bytes(&mut self, bytes: &[u8]) {
        if self.phase == Phase::Idle {
            self.phase = Phase::Head;
            self.after_newline = false;
            self.deadline.as_mut().reset(Instant::now() + self.header_timeout);
        }
        if self.phase != Phase::Head {
            return;
        }
        for &b in bytes {
            match b {
                b'\n' if self.after_newline => {
                    self.phase = Phase::Busy;
                    return;
                }
                b'\n' => self.after_newline = true,
                b'\r' => {}
                _ => self.after_newline = false,
            }
        }
    }

    fn wrote(&mut self) {
        if self.phase == Phase::Busy {
            self.phase = Phase::Idle;
            self.deadline.as_mut().reset(Instant::now() + self.idle_timeout);
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TimedIo<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let this = &mut *self;
                this.saw_bytes(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if self.phase != Phase::Busy && self.deadline.as_mut().poll(cx).is_ready() {
                    let what = if self.phase == Phase::Head { "request head" } else { "idle connection" };
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, format!("{what} timed out"))));
                }
                Poll::Pending
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TimedIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            self.wrote();
        }
        res
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            self.wrote();
        }
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_silent_client_times_out_on_the_head_deadline() {
        let (client, server) = tokio::io::duplex(64);
        let mut io = TimedIo::new(server, Duration::from_secs(5), Duration::from_secs(120));
        let mut buf = [0u8; 16];
        let err = io.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        drop(client);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_keep_alive_connection_gets_the_idle_deadline() {
        let (mut client, server) = tokio::io::duplex(256);
        let mut io = TimedIo::new(server, Duration::from_secs(5), Duration::from_secs(120));
        client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 256];
        let n = io.read(&mut buf).await.unwrap();
        assert!(n > 0);
        io.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await.unwrap();
        let start = Instant::now();
        let err = io.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(start.elapsed() >= Duration::from_secs(120));
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickled_head_is_cut_after_the_head_deadline() {
        let (mut client, server) = tokio::io::duplex(256);
        let mut io = TimedIo::new(server, Duration::from_secs(5), Duration::from_secs(120));
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 64];
            loop {
                match io.read(&mut buf).await {
                    Ok(0) => return None,
                    Ok(_) => continue,
                    Err(e) => return Some(e.kind()),
                }
            }
        });
        for b in b"GET / HTTP/1.1\r\nX-Slow: 1" {
            // Once the reader has given up, writes fail: that is the point.
            if client.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        assert_eq!(reader.await.unwrap(), Some(io::ErrorKind::TimedOut));
    }
}
