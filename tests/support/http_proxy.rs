//! A forward HTTP proxy, as a corporate laptop's: `CONNECT host:port` tunnels (what kube-rs
//! and HTTPS clients send) and absolute-form requests (`GET http://host/path`, what the AWS
//! SDK sends for a plain-http endpoint such as moto). It records every destination, so a test
//! can prove the traffic went through it.

use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct HttpProxy {
    pub url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl HttpProxy {
    pub async fn start() -> HttpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let _ = serve(conn, log).await;
                });
            }
        });
        HttpProxy { url, seen }
    }

    /// Every destination so far: `CONNECT host:port` or `GET host:port`.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// Read up to the end of the request head.
async fn read_head(conn: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
        if head.len() > 64 * 1024 {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
    }
    Ok(head)
}

async fn serve(mut conn: TcpStream, log: Arc<Mutex<Vec<String>>>) -> std::io::Result<()> {
    let head = read_head(&mut conn).await?;
    let text = String::from_utf8_lossy(&head).into_owned();
    let first = text.lines().next().unwrap_or_default().to_string();
    let mut words = first.split_whitespace();
    let (method, target) = (
        words.next().unwrap_or_default().to_string(),
        words.next().unwrap_or_default().to_string(),
    );
    if method == "CONNECT" {
        log.lock().unwrap().push(format!("CONNECT {target}"));
        let mut upstream = match TcpStream::connect(&target).await {
            Ok(u) => u,
            Err(_) => {
                conn.write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                    .await?;
                return Ok(());
            }
        };
        conn.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await?;
        let _ = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await;
        return Ok(());
    }
    // Absolute form: http://host:port/path → origin form to host:port.
    let Some(rest) = target.strip_prefix("http://") else {
        conn.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            .await?;
        return Ok(());
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    log.lock().unwrap().push(format!("{method} {authority}"));
    let mut upstream = TcpStream::connect(authority).await?;
    let rewritten = text.replacen(&target, path, 1);
    upstream.write_all(rewritten.as_bytes()).await?;
    // The rest of this connection (body, later requests) is relayed as is: HTTP/1.1 servers
    // accept absolute-form request lines too.
    let _ = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await;
    Ok(())
}
