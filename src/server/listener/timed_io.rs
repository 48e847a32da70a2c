//! A socket that enforces the connection's deadlines.
//!
//! Hyper's own header timeout runs while a keep-alive connection sits idle,
//! so it cannot tell "slow headers" from "idle between requests", and poem's
//! idle timeout counts any byte as activity, so one header byte every few
//! seconds keeps a connection forever. This wrapper knows which phase the
//! connection is in (told by the service, see [`Phase`]) and applies:
//!
//! - **header**: from accept, or from the first byte of the next request, the
//!   whole head must arrive within `header` (nginx's `client_header_timeout`);
//! - **idle**: between requests, the next one must start within `idle`;
//! - **write**: a write that makes no progress for `write` fails, so a client
//!   that never reads its answers cannot pin their buffers.
//!
//! While a request is being handled no read deadline applies: the handler
//! bounds the body itself.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The connection's deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// For a request's head, from its first byte (or from accept).
    pub header: Duration,
    /// Between two requests on a keep-alive connection.
    pub idle: Duration,
    /// For a write to make progress.
    pub write: Duration,
}

/// Why a connection was closed by a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// The request head did not arrive in time.
    Header,
    /// No new request on an idle connection.
    Idle,
    /// The client did not read its answer.
    Write,
}

impl Expired {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Header => "header_timeout",
            Self::Idle => "idle_timeout",
            Self::Write => "write_timeout",
        }
    }
}

const HEAD: u8 = 0;
const REQUEST: u8 = 1;
const IDLE: u8 = 2;

/// Where the connection is, shared by the socket and the service.
#[derive(Debug)]
pub struct Phase {
    now: AtomicU8,
    /// Requests started, so each wait gets a fresh deadline.
    requests: AtomicU32,
    expired: AtomicU8,
}

impl Default for Phase {
    /// A new connection waits for its first request head.
    fn default() -> Self {
        Self {
            now: AtomicU8::new(HEAD),
            requests: AtomicU32::new(0),
            expired: AtomicU8::new(u8::MAX),
        }
    }
}

impl Phase {
    /// The head is in: the request is being handled.
    pub fn request_started(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.now.store(REQUEST, Ordering::Relaxed);
    }

    /// The answer is out: the connection waits for the next request.
    pub fn answered(&self) {
        self.now.store(IDLE, Ordering::Relaxed);
    }

    /// Which deadline closed the connection, if one did.
    pub fn expired(&self) -> Option<Expired> {
        match self.expired.load(Ordering::Relaxed) {
            HEAD => Some(Expired::Header),
            IDLE => Some(Expired::Idle),
            REQUEST => Some(Expired::Write),
            _ => None,
        }
    }

    fn get(&self) -> u8 {
        self.now.load(Ordering::Relaxed)
    }

    /// The wait a read deadline belongs to: the phase after so many requests.
    fn wait(&self, phase: u8) -> (u8, u32) {
        (phase, self.requests.load(Ordering::Relaxed))
    }

    fn set(&self, phase: u8) {
        self.now.store(phase, Ordering::Relaxed);
    }

    fn expire(&self, why: Expired) -> io::Error {
        let code = match why {
            Expired::Header => HEAD,
            Expired::Idle => IDLE,
            Expired::Write => REQUEST,
        };
        self.expired.store(code, Ordering::Relaxed);
        io::Error::new(io::ErrorKind::TimedOut, why.as_str())
    }
}

/// `inner` with the deadlines of `timeouts`.
pub struct TimedIo<T> {
    inner: T,
    timeouts: Timeouts,
    phase: Arc<Phase>,
    /// The read deadline, and the phase it was set for.
    read_deadline: Pin<Box<Sleep>>,
    read_deadline_for: (u8, u32),
    /// The write deadline, while a write is blocked.
    write_deadline: Pin<Box<Sleep>>,
    write_blocked: bool,
}

impl<T> TimedIo<T> {
    /// Wraps a socket just accepted: its first head is due within `header`.
    pub fn new(inner: T, timeouts: Timeouts, phase: Arc<Phase>) -> Self {
        let now = Instant::now();
        Self {
            inner,
            timeouts,
            phase,
            read_deadline: Box::pin(tokio::time::sleep_until(now + timeouts.header)),
            read_deadline_for: (HEAD, 0),
            write_deadline: Box::pin(tokio::time::sleep_until(now + timeouts.write)),
            write_blocked: false,
        }
    }

    /// Starts the deadline of `phase` unless it is the one running.
    fn arm_read(&mut self, phase: u8) {
        let wait = self.phase.wait(phase);
        if self.read_deadline_for != wait {
            let after = if phase == IDLE {
                self.timeouts.idle
            } else {
                self.timeouts.header
            };
            self.read_deadline.as_mut().reset(Instant::now() + after);
            self.read_deadline_for = wait;
        }
    }

    /// After an answer is written, hyper may not poll the socket's read side
    /// again (its read is still registered from while the request ran), so
    /// the idle deadline is started here, waking the task when it passes.
    fn start_idle_wait(&mut self, cx: &mut Context<'_>) {
        if self.phase.get() == IDLE {
            self.arm_read(IDLE);
            let _ = self.read_deadline.as_mut().poll(cx);
        }
    }

    /// A read is blocked: fails it if the phase's deadline has passed.
    fn poll_read_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let phase = self.phase.get();
        if phase == REQUEST {
            return Poll::Pending;
        }
        self.arm_read(phase);
        match self.read_deadline.as_mut().poll(cx) {
            Poll::Ready(()) if phase == IDLE => Poll::Ready(Err(self.phase.expire(Expired::Idle))),
            Poll::Ready(()) => Poll::Ready(Err(self.phase.expire(Expired::Header))),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Passes a write's result on; a blocked write fails after `write`
    /// without progress.
    fn after_write<R>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        if polled.is_ready() {
            self.write_blocked = false;
            self.start_idle_wait(cx);
            return polled;
        }
        if !self.write_blocked {
            self.write_blocked = true;
            let deadline = Instant::now() + self.timeouts.write;
            self.write_deadline.as_mut().reset(deadline);
        }
        match self.write_deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(self.phase.expire(Expired::Write))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TimedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Pending => this.poll_read_deadline(cx),
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before && this.phase.get() == IDLE {
                    // The first byte of the next request: its head must follow in time.
                    this.phase.set(HEAD);
                    this.arm_read(HEAD);
                }
                Poll::Ready(Ok(()))
            }
            failed => failed,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TimedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.after_write(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.after_write(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.after_write(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.after_write(cx, polled)
    }
}
