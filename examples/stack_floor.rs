//! The floor of hookgate's stack, for the benchmark (`bench/run.sh --floor`):
//! a forwarder made of only what hookgate's hot path is built on (hyper's
//! HTTP/1 server, hyper-util's pooled client, a tokio runtime per core with
//! SO_REUSEPORT listeners, mimalloc) and nothing else: no framework, no
//! signature check, no logs, no metrics, only `Content-Type` forwarded.
//! No gateway built on this stack can be faster; its ratio to nginx bounds
//! what the hot path can reach.
//!
//! Usage: `stack_floor LISTEN_ADDR DOWNSTREAM_URL`

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use socket2::{Domain, Socket, Type};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = || std::io::Error::other("usage: stack_floor LISTEN_ADDR DOWNSTREAM_URL");
    let listen: SocketAddr = args
        .next()
        .ok_or_else(usage)?
        .parse()
        .map_err(|_| usage())?;
    let downstream: Uri = args
        .next()
        .ok_or_else(usage)?
        .parse()
        .map_err(|_| usage())?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers: Vec<_> = (0..cores)
        .map(|_| {
            let listener = bind(listen)?;
            let downstream = downstream.clone();
            Ok(std::thread::spawn(move || serve(listener, downstream)))
        })
        .collect::<std::io::Result<_>>()?;
    for worker in workers {
        worker
            .join()
            .map_err(|_| std::io::Error::other("a worker panicked"))??;
    }
    Ok(())
}

fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

fn serve(listener: std::net::TcpListener, downstream: Uri) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client: HttpClient = Client::builder(TokioExecutor::new()).build(connector);
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            let (client, downstream) = (client.clone(), downstream.clone());
            tokio::spawn(async move {
                let service = service_fn(|request| forward(&client, &downstream, request));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

async fn forward(
    client: &HttpClient,
    downstream: &Uri,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut out = Request::post(downstream.clone());
    if let Some(content_type) = parts.headers.get(CONTENT_TYPE) {
        out = out.header(CONTENT_TYPE, content_type);
    }
    let answered = match out.body(Full::new(body)) {
        Ok(out) => match client.request(out).await {
            Ok(response) => {
                let ok = response.status().is_success();
                let _ = response.into_body().collect().await;
                ok
            }
            Err(_) => false,
        },
        Err(_) => false,
    };
    let (status, text) = match answered {
        true => (StatusCode::OK, r#"{"success":true,"processed":true}"#),
        false => (StatusCode::INTERNAL_SERVER_ERROR, r#"{"success":false}"#),
    };
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        "application/json".parse().expect("a valid header"),
    );
    Ok(response)
}
