//! A front for moto's SSM: moto does not implement StartSession, so this answers it (and
//! records the request), and passes every other SSM call to moto unchanged. deployctl
//! reaches it through the standard `AWS_ENDPOINT_URL_SSM`.

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct SsmProxy {
    pub url: String,
    pub sessions: Arc<Mutex<Vec<Value>>>,
    /// TerminateSession requests' session ids.
    pub terminated: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SsmProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn forward(
    moto: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let addr = moto.trim_start_matches("http://").to_string();
    let mut req = format!(
        "{method} {} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"),
        body.len()
    );
    for (k, v) in headers {
        let k = k.as_str();
        if matches!(
            k,
            "host" | "connection" | "content-length" | "transfer-encoding"
        ) {
            continue;
        }
        req.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap_or("")));
    }
    req.push_str("\r\n");
    let Ok(mut stream) = tokio::net::TcpStream::connect(&addr).await else {
        return (StatusCode::BAD_GATEWAY, "moto unreachable").into_response();
    };
    let _ = stream.write_all(req.as_bytes()).await;
    let _ = stream.write_all(body).await;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut body = raw.get(split + 4..).unwrap_or_default().to_vec();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(502);
    let mut builder = Response::builder().status(status);
    let mut chunked = false;
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            if k == "transfer-encoding" && v.trim().eq_ignore_ascii_case("chunked") {
                chunked = true;
                continue;
            }
            if matches!(k.as_str(), "connection" | "content-length") {
                continue;
            }
            builder = builder.header(k, v.trim());
        }
    }
    if chunked {
        body = dechunk(&body);
    }
    builder
        .body(axum::body::Body::from(body))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = eol + 2;
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = data.get(start + size + 2..).unwrap_or_default();
    }
    out
}

impl SsmProxy {
    pub async fn start(moto_url: &str) -> SsmProxy {
        let sessions: Arc<Mutex<Vec<Value>>> = Arc::default();
        let moto = moto_url.to_string();
        let recorded = sessions.clone();
        let terminated: Arc<Mutex<Vec<String>>> = Arc::default();
        let ended = terminated.clone();
        let app = Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let moto = moto.clone();
            let recorded = recorded.clone();
            let ended = ended.clone();
            async move {
                let target = headers
                    .get("x-amz-target")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if target == "AmazonSSM.StartSession" {
                    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    recorded.lock().unwrap().push(req.clone());
                    let out = json!({
                        "SessionId": "deployctl-test-0123456789abcdef0",
                        "StreamUrl": "wss://ssmmessages.us-east-1.amazonaws.com/v1/data-channel/deployctl-test-0123456789abcdef0",
                        "TokenValue": "session-token-for-tests",
                    });
                    return (StatusCode::OK, [("content-type", "application/x-amz-json-1.1")], out.to_string())
                        .into_response();
                }
                if target == "AmazonSSM.TerminateSession" {
                    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let id = req["SessionId"].as_str().unwrap_or_default().to_string();
                    ended.lock().unwrap().push(id.clone());
                    return (StatusCode::OK, [("content-type", "application/x-amz-json-1.1")], json!({"SessionId": id}).to_string())
                        .into_response();
                }
                forward(&moto, &method, &uri, &headers, &body).await
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        SsmProxy {
            url,
            sessions,
            terminated,
            task,
        }
    }
}
