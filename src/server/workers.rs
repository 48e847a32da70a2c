//! A runtime per core: each worker thread runs its own single-threaded tokio
//! runtime with its own listener (SO_REUSEPORT) and its own HTTP client.
//!
//! A request then stays on one thread from accept to downstream answer; with
//! one shared multi-threaded runtime a profile showed a quarter of the CPU in
//! cross-thread wake-ups (bench/).

use std::net::SocketAddr;
use std::sync::Arc;

use socket2::{Domain, Socket, Type};
use tokio_util::sync::CancellationToken;

use super::context::Context;
use super::gateway::Gateway;
use super::listener::{self, Limits};
use crate::forward::Forwarder;
use crate::reload::Reloader;

/// Binds `count` listeners on `addr` sharing one port; port 0 picks one for all.
pub fn bind(addr: SocketAddr, count: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    let first = bind_one(addr)?;
    let addr = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..count {
        listeners.push(bind_one(addr)?);
    }
    Ok(listeners)
}

fn bind_one(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// What every worker shares.
#[derive(Clone)]
pub struct Shared {
    /// The live config, the store and the dedupe keys.
    pub context: Arc<Context>,
    /// For `POST /admin/reload`.
    pub reloader: Arc<Reloader>,
    /// Cancelled on SIGTERM/SIGINT.
    pub shutdown: CancellationToken,
    /// Whether the admin API is served on the public listener.
    pub with_admin: bool,
    /// Each worker's connection cap and deadlines.
    pub limits: Limits,
}

/// Serves `listener` on a new thread with its own runtime until shutdown.
pub fn spawn(
    index: usize,
    listener: std::net::TcpListener,
    shared: Shared,
) -> std::io::Result<std::thread::JoinHandle<std::io::Result<()>>> {
    std::thread::Builder::new()
        .name(format!("hookgate-worker-{index}"))
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(serve(listener, shared))
        })
}

async fn serve(listener: std::net::TcpListener, shared: Shared) -> std::io::Result<()> {
    let forwarder = Forwarder::new().map_err(std::io::Error::other)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let metrics = shared.context.live.metrics().connections.clone();
    let gateway = Gateway::new(
        shared.context,
        forwarder,
        shared.reloader,
        shared.shutdown.clone(),
        shared.with_admin,
    );
    listener::serve(listener, gateway, shared.limits, metrics, shared.shutdown).await
}
