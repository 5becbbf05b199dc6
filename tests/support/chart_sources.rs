//! Chart sources on 127.0.0.1, made with the real helm from the real charts: a chart
//! repository (the charts packaged by `helm package`, the index written by `helm repo index`,
//! served over HTTP) and an OCI registry speaking the distribution API helm's registry client
//! uses (`/v2/` ping, tag list, manifests by tag or digest, blobs; HEAD and GET), holding
//! packaged charts as helm pushes them (an OCI image manifest with the helm config and chart
//! layer media types). Versions are set at packaging (`--version`, `--app-version`), so a
//! source can offer what is newer than the pins.

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use sha2::Digest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `helm package CHART --version V --app-version A -d OUT`: the archive's path.
pub fn package(chart: &Path, version: &str, app_version: &str, out: &Path) -> PathBuf {
    let run = std::process::Command::new(super::charts::real_helm())
        .args(["package"])
        .arg(chart)
        .args(["--version", version, "--app-version", app_version, "-d"])
        .arg(out)
        .output()
        .expect("helm package");
    assert!(
        run.status.success(),
        "helm package: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let name = super::charts::chart_name_of(chart);
    out.join(format!("{name}-{version}.tgz"))
}

fn serve(app: Router, listener: std::net::TcpListener) -> tokio::task::JoinHandle<()> {
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    })
}

fn respond(status: StatusCode, headers: &[(&str, String)], body: Vec<u8>) -> Response {
    let mut r = Response::new(axum::body::Body::from(body));
    *r.status_mut() = status;
    for (k, v) in headers {
        r.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    r
}

/// A chart repository: `index.yaml` and the archives.
pub struct ChartRepo {
    pub url: String,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ChartRepo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ChartRepo {
    /// Each `(chart directory, version, appVersion)` packaged into the repository.
    pub fn start(charts: &[(&Path, &str, &str)]) -> ChartRepo {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let dir = tempfile::tempdir().unwrap();
        for (chart, version, app) in charts {
            package(chart, version, app, dir.path());
        }
        let index = std::process::Command::new(super::charts::real_helm())
            .args(["repo", "index"])
            .arg(dir.path())
            .args(["--url", &url])
            .output()
            .expect("helm repo index");
        assert!(index.status.success(), "{index:?}");
        let root = dir.path().to_path_buf();
        let app = Router::new().fallback(move |uri: Uri| {
            let root = root.clone();
            async move {
                let name = uri.path().trim_start_matches('/');
                match std::fs::read(root.join(name)) {
                    Ok(bytes) if !name.contains("..") => respond(StatusCode::OK, &[], bytes),
                    _ => respond(StatusCode::NOT_FOUND, &[], b"not found".to_vec()),
                }
            }
        });
        let task = serve(app, listener);
        ChartRepo {
            url,
            _dir: dir,
            task,
        }
    }
}

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
const LAYER: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// An OCI registry with one repository of charts.
pub struct OciRegistry {
    /// `oci://127.0.0.1:PORT/<repository>`.
    pub reference: String,
    pub requests: Arc<std::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OciRegistry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl OciRegistry {
    /// `repository` (e.g. `berriai/litellm-helm`) holding each `(chart, version, appVersion)`.
    pub fn start(repository: &str, charts: &[(&Path, &str, &str)]) -> OciRegistry {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let dir = tempfile::tempdir().unwrap();
        let mut blobs: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut manifests: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut tags = Vec::new();
        for (chart, version, app) in charts {
            let archive = std::fs::read(package(chart, version, app, dir.path())).unwrap();
            let name = super::charts::chart_name_of(chart);
            let config = serde_json::to_vec(&serde_json::json!({
                "name": name, "version": version, "appVersion": app, "apiVersion": "v2",
            }))
            .unwrap();
            let manifest = serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2,
                "mediaType": MANIFEST,
                "config": {"mediaType": CONFIG, "digest": digest(&config), "size": config.len()},
                "layers": [{"mediaType": LAYER, "digest": digest(&archive), "size": archive.len()}],
                "annotations": {"org.opencontainers.image.title": name, "org.opencontainers.image.version": version},
            }))
            .unwrap();
            blobs.insert(digest(&config), config);
            blobs.insert(digest(&archive), archive);
            manifests.insert(version.to_string(), manifest.clone());
            manifests.insert(digest(&manifest), manifest);
            tags.push(version.to_string());
        }
        let requests: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
        let log = requests.clone();
        let repo = repository.to_string();
        let app = Router::new().fallback(move |method: Method, uri: Uri, _h: HeaderMap| {
            let (blobs, manifests, tags, repo, log) = (
                blobs.clone(),
                manifests.clone(),
                tags.clone(),
                repo.clone(),
                log.clone(),
            );
            async move {
                log.lock().unwrap().push(format!("{method} {}", uri.path()));
                let body = |b: Vec<u8>| if method == Method::HEAD { Vec::new() } else { b };
                let path = uri.path();
                if path == "/v2/" || path == "/v2" {
                    return respond(StatusCode::OK, &[], b"{}".to_vec());
                }
                let Some(rest) = path.strip_prefix(&format!("/v2/{repo}/")) else {
                    return respond(StatusCode::NOT_FOUND, &[], br#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known"}]}"#.to_vec());
                };
                if rest == "tags/list" {
                    let b = serde_json::to_vec(&serde_json::json!({"name": repo, "tags": tags})).unwrap();
                    return respond(StatusCode::OK, &[("content-type", "application/json".into())], b);
                }
                if let Some(r) = rest.strip_prefix("manifests/") {
                    return match manifests.get(r) {
                        Some(m) => respond(
                            StatusCode::OK,
                            &[
                                ("content-type", MANIFEST.into()),
                                ("docker-content-digest", digest(m)),
                                ("content-length", m.len().to_string()),
                            ],
                            body(m.clone()),
                        ),
                        None => respond(StatusCode::NOT_FOUND, &[], br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#.to_vec()),
                    };
                }
                if let Some(d) = rest.strip_prefix("blobs/") {
                    return match blobs.get(d) {
                        Some(b) => respond(
                            StatusCode::OK,
                            &[
                                ("content-type", "application/octet-stream".into()),
                                ("docker-content-digest", d.to_string()),
                                ("content-length", b.len().to_string()),
                            ],
                            body(b.clone()),
                        ),
                        None => respond(StatusCode::NOT_FOUND, &[], br#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}"#.to_vec()),
                    };
                }
                respond(StatusCode::NOT_FOUND, &[], Vec::new())
            }
        });
        let task = serve(app, listener);
        drop(dir);
        OciRegistry {
            reference: format!("oci://{host}/{repository}"),
            requests,
            task,
        }
    }
}
