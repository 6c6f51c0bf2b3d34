//! A forward HTTP proxy on loopback for tests: `CONNECT host:port` tunnels and absolute-form
//! `GET http://host:port/path` requests, each counted per target, with the
//! `Proxy-Authorization` values it saw. Runs on its own thread until dropped.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Default, Debug, Clone)]
pub struct Seen {
    /// `host:port` → CONNECT tunnels opened.
    pub tunnels: HashMap<String, usize>,
    /// `host:port` → absolute-form requests forwarded.
    pub forwarded: HashMap<String, usize>,
    /// Every `Proxy-Authorization` header value received.
    pub auth: Vec<String>,
}

pub struct HttpProxy {
    pub port: u16,
    seen: Arc<Mutex<Seen>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HttpProxy {
    pub fn start() -> HttpProxy {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shared = seen.clone();
        let thread = std::thread::spawn(move || {
            let rt =
                tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                port_tx.send(listener.local_addr().unwrap().port()).unwrap();
                let accept = async {
                    loop {
                        let Ok((socket, _)) = listener.accept().await else { continue };
                        tokio::spawn(serve(socket, shared.clone()));
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stopped => {}
                }
            });
        });
        let port = port_rx.recv().unwrap();
        HttpProxy { port, seen, stop: Some(stop), thread: Some(thread) }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for HttpProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads up to the end of the head; returns (head, bytes read past it).
async fn read_head(socket: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Some((String::from_utf8_lossy(&buf).into_owned(), rest));
        }
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn serve(mut client: TcpStream, seen: Arc<Mutex<Seen>>) {
    let Some((head, rest)) = read_head(&mut client).await else { return };
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_string();
    let headers: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
    if let Some(auth) = headers
        .iter()
        .find_map(|h| h.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("proxy-authorization")))
    {
        seen.lock().unwrap().auth.push(auth.1.trim().to_string());
    }
    let mut parts = request_line.split(' ');
    let (method, target) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    if method == "CONNECT" {
        *seen.lock().unwrap().tunnels.entry(target.to_string()).or_default() += 1;
        let Ok(mut upstream) = TcpStream::connect(target).await else {
            let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n").await;
            return;
        };
        let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await;
        let _ = upstream.write_all(&rest).await;
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        return;
    }
    // Absolute form: http://host:port/path → origin form to host:port, one request per
    // connection (Connection: close both ways).
    let Some(after) = target.strip_prefix("http://") else {
        let _ = client.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n").await;
        return;
    };
    let (authority, path) = match after.find('/') {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, "/"),
    };
    let authority = if authority.contains(':') { authority.to_string() } else { format!("{authority}:80") };
    *seen.lock().unwrap().forwarded.entry(authority.clone()).or_default() += 1;
    let Ok(mut upstream) = TcpStream::connect(&authority).await else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n").await;
        return;
    };
    let version = parts.next().unwrap_or("HTTP/1.1");
    let mut out = format!("{method} {path} {version}\r\n");
    for h in &headers {
        let name = h.split(':').next().unwrap_or_default().to_ascii_lowercase();
        if !matches!(name.as_str(), "proxy-authorization" | "proxy-connection" | "connection") {
            out.push_str(h);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    if upstream.write_all(out.as_bytes()).await.is_err() || upstream.write_all(&rest).await.is_err() {
        return;
    }
    let (mut client_read, mut client_write) = client.into_split();
    let (mut up_read, mut up_write) = upstream.into_split();
    let body = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut client_read, &mut up_write).await;
    });
    // The answer's head gets `Connection: close` so the client does not reuse the connection.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head, rest) = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            break (String::from_utf8_lossy(&buf[..end]).into_owned(), rest);
        }
        match up_read.read(&mut chunk).await {
            Ok(0) | Err(_) => {
                body.abort();
                return;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let mut answer = String::new();
    for line in head.split("\r\n") {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            answer.push_str(line);
            answer.push_str("\r\n");
        }
    }
    answer.push_str("Connection: close\r\n\r\n");
    let _ = client_write.write_all(answer.as_bytes()).await;
    let _ = client_write.write_all(&rest).await;
    let _ = tokio::io::copy(&mut up_read, &mut client_write).await;
    let _ = client_write.shutdown().await;
    body.abort();
}
