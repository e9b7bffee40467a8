//! A minimal blocking HTTP/1.1 server and readiness probe over `std::net`, so that the token
//! realm and the registry start-up check need no async runtime and work from any test.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};

/// The largest request head or body the server accepts.
const MAX_REQUEST_BYTES: u64 = 64 * 1024;

/// How long a connection may stay silent before the server gives up on it.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed HTTP request.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Request {
    /// The first header with this (case-insensitive) name.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The path part of the request target.
    pub(crate) fn path(&self) -> &str {
        self.target
            .split_once('?')
            .map_or(self.target.as_str(), |(path, _)| path)
    }

    /// The decoded `key=value` pairs of the query string, in order.
    pub(crate) fn query_pairs(&self) -> Vec<(String, String)> {
        self.target
            .split_once('?')
            .map(|(_, query)| parse_form(query))
            .unwrap_or_default()
    }
}

/// A response to send.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    /// A response with a JSON body.
    pub(crate) fn json(status: u16, body: &serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".to_owned(), "application/json".to_owned())],
            body: body.to_string().into_bytes(),
        }
    }
}

/// The function that answers every request.
pub(crate) type Handler = dyn Fn(&Request) -> Response + Send + Sync;

/// A server on `127.0.0.1` that answers each connection's first request in its own thread and
/// closes the connection. Stopped (and its accept thread joined) on drop.
#[derive(Debug)]
pub(crate) struct HttpServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Binds a free loopback port and starts serving, over TLS when `tls` is given.
    pub(crate) fn start(
        handler: Arc<Handler>,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(format!("imgpull-test-http-{}", addr.port()))
            .spawn(move || {
                for stream in listener.incoming() {
                    if stop_flag.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let handler = Arc::clone(&handler);
                    let tls = tls.clone();
                    // A connection that fails mid-request (or whose thread cannot be
                    // created) only affects its own client.
                    let _detached = std::thread::Builder::new()
                        .spawn(move || serve(stream, tls, handler.as_ref()));
                }
            })?;
        Ok(Self {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The address the server listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag; if that fails, leave the thread
        // detached rather than hang in drop.
        let woken = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok();
        if let Some(thread) = self.thread.take().filter(|_| woken) {
            let _joined = thread.join();
        }
    }
}

fn serve(
    mut stream: TcpStream,
    tls: Option<Arc<rustls::ServerConfig>>,
    handler: &Handler,
) -> io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    if let Some(config) = tls {
        let connection = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
        let mut tls_stream = rustls::StreamOwned::new(connection, stream);
        answer(&mut tls_stream, handler)?;
        tls_stream.conn.send_close_notify();
        tls_stream.flush()?;
        tls_stream.sock.shutdown(Shutdown::Write)
    } else {
        answer(&mut stream, handler)?;
        stream.shutdown(Shutdown::Write)
    }
}

fn answer(stream: &mut (impl Read + Write), handler: &Handler) -> io::Result<()> {
    let request = read_request(stream)?;
    let response = handler(&request);
    write_response(stream, &response)?;
    stream.flush()
}

fn read_request(stream: &mut impl Read) -> io::Result<Request> {
    let mut reader = BufReader::new(stream.take(MAX_REQUEST_BYTES));
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("malformed request line {line:?}"),
        ));
    };
    let (method, target) = (method.to_owned(), target.to_owned());
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        let trimmed = line.trim_end_matches(['\r', '\n']);
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let length = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.parse::<u64>().ok())
        .unwrap_or(0);
    let mut body = Vec::new();
    reader.take(length).read_to_end(&mut body)?;
    Ok(Request {
        method,
        target,
        headers,
        body,
    })
}

fn write_response(stream: &mut impl Write, response: &Response) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        response.status,
        reason(response.status),
        response.body.len()
    );
    for (name, value) in &response.headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(&response.body)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Status",
    }
}

/// Decodes `application/x-www-form-urlencoded` text (also used for query strings).
pub(crate) fn parse_form(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => out.push(b' '),
            b'%' if index + 2 < bytes.len() => {
                let decoded = std::str::from_utf8(&bytes[index + 1..index + 3])
                    .ok()
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok());
                if let Some(byte) = decoded {
                    out.push(byte);
                    index += 2;
                } else {
                    out.push(b'%');
                }
            }
            byte => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Sends `GET path` to `addr` (over TLS trusting `ca_der` when given, with an
/// `Authorization` header when given) and returns the status code of the answer.
pub(crate) fn probe_status(
    addr: SocketAddr,
    ca_der: Option<&[u8]>,
    path: &str,
    authorization: Option<&str>,
) -> Result<u16, crate::HarnessError> {
    let mut tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(crate::error::io_context(format!("connecting to {addr}")))?;
    tcp.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(crate::error::io_context("setting a read timeout"))?;
    let authorization = authorization
        .map(|value| format!("Authorization: {value}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: imgpull-tests\r\n{authorization}Connection: close\r\n\r\n"
    );
    let head = if let Some(ca_der) = ca_der {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(ca_der.to_vec()))?;
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connection = rustls::ClientConnection::new(
            Arc::new(config),
            ServerName::IpAddress(addr.ip().into()),
        )?;
        let mut tls = rustls::StreamOwned::new(connection, tcp);
        exchange(&mut tls, &request)
    } else {
        exchange(&mut tcp, &request)
    }
    .map_err(crate::error::io_context(format!(
        "probing GET {path} on {addr}"
    )))?;
    head.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| crate::HarnessError::Io {
            context: format!("probing GET {path} on {addr}"),
            source: io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad status line {head:?}"),
            ),
        })
}

fn exchange(stream: &mut (impl Read + Write), request: &str) -> io::Result<String> {
    stream.write_all(request.as_bytes())?;
    stream.flush()?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line)?;
    Ok(line)
}
