//! The accept loop and HTTP/1.1 connections, in place of poem's `Server`.
//!
//! What a gateway at the front needs and poem's server does not give:
//! - a **connection cap** per listener, so the process never reaches its
//!   file-descriptor limit (connections past the cap wait in the kernel's
//!   listen backlog, and the admin listener keeps its own cap);
//! - accept errors (EMFILE, ENFILE, ...) **backed off** and logged once per
//!   burst, instead of an accept loop spinning at full CPU;
//! - **deadlines** per connection: header, idle and write (see [`timed_io`]).
//!
//! HTTP/1.1 only: webhook sources send HTTP/1.1, and cleartext HTTP/2 (h2c)
//! would be one more parser and flow-control state per connection for no
//! client that needs it. Put a TLS terminator in front for HTTP/2.

mod accept;
pub mod fd_limit;
mod timed_io;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use poem::http::uri::Scheme;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Endpoint, EndpointExt, IntoEndpoint};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::metrics::ConnectionSeries;
pub use timed_io::Timeouts;
use timed_io::{Phase, TimedIo};

/// Largest buffer a connection reads into: request heads beyond it are
/// refused (431), and a client that pipelines cannot make it grow further.
const MAX_BUFFER: usize = 64 * 1024;

/// How a listener serves its connections.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections open at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// The per-connection deadlines.
    pub timeouts: Timeouts,
    /// How long open connections may finish their requests at shutdown.
    pub drain: Duration,
}

/// Serves `endpoint` on `listener` until `shutdown`, then lets open
/// connections finish their requests for at most `limits.drain`.
pub async fn serve<E>(
    listener: TcpListener,
    endpoint: E,
    limits: Limits,
    metrics: ConnectionSeries,
    shutdown: CancellationToken,
) -> std::io::Result<()>
where
    E: IntoEndpoint,
    E::Endpoint: 'static,
{
    let endpoint = Arc::new(endpoint.into_endpoint().map_to_response());
    let local = listener.local_addr()?;
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    let closing = CancellationToken::new();
    let mut acceptor = accept::Acceptor::new(
        listener,
        permits,
        limits.max_connections,
        metrics.accept_errors.clone(),
    );
    while let Some((stream, remote, permit)) = acceptor.next(&shutdown).await {
        let connection = Connection {
            local,
            remote,
            timeouts: limits.timeouts,
            metrics: metrics.clone(),
            _permit: permit,
        };
        connections.spawn(connection.serve(stream, endpoint.clone(), closing.clone()));
    }
    connections.close();
    closing.cancel();
    let _ = tokio::time::timeout(limits.drain, connections.wait()).await;
    Ok(())
}

/// One accepted connection.
struct Connection {
    local: SocketAddr,
    remote: SocketAddr,
    timeouts: Timeouts,
    metrics: ConnectionSeries,
    /// Its place under the cap, given back when the connection ends.
    _permit: OwnedSemaphorePermit,
}

impl Connection {
    async fn serve<E>(self, stream: TcpStream, endpoint: Arc<E>, closing: CancellationToken)
    where
        E: Endpoint<Output = poem::Response> + 'static,
    {
        // Answers are small and written whole: no reason to wait for more.
        let _ = stream.set_nodelay(true);
        self.metrics.open.inc();
        let phase = Arc::new(Phase::default());
        let io = TokioIo::new(TimedIo::new(stream, self.timeouts, phase.clone()));
        let (local, remote) = (self.local, self.remote);
        let service = hyper::service::service_fn({
            let phase = phase.clone();
            move |request: hyper::Request<Incoming>| {
                phase.request_started();
                let endpoint = endpoint.clone();
                let phase = phase.clone();
                async move {
                    let request = poem::Request::from((
                        request,
                        LocalAddr(local.into()),
                        RemoteAddr(remote.into()),
                        Scheme::HTTP,
                    ));
                    let response = endpoint.get_response(request).await;
                    phase.answered();
                    Ok::<_, Infallible>(hyper::Response::<BoxBody<Bytes, std::io::Error>>::from(
                        response,
                    ))
                }
            }
        });
        let connection = http1::Builder::new()
            // The deadlines are TimedIo's; hyper's header timeout would also
            // cut idle keep-alive connections.
            .header_read_timeout(None)
            .max_buf_size(MAX_BUFFER)
            .serve_connection(io, service);
        tokio::pin!(connection);
        let finished = tokio::select! {
            _ = connection.as_mut() => true,
            _ = closing.cancelled() => false,
        };
        if !finished {
            // Finish the request in progress, then close.
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
        if let Some(expired) = phase.expired() {
            self.metrics.closed(expired.as_str()).inc();
        }
        self.metrics.open.dec();
    }
}
