//! The real LiteLLM proxy (`litellm[proxy]` from PyPI at the image's version, in
//! `.venv-litellm`, pinned in tests/requirements-litellm.txt) started the way the rendered
//! Deployment starts it: the proxy configuration from the rendered ConfigMap and the
//! environment from the rendered container (values as given, `secretKeyRef`s from test
//! secrets). Only the network addresses are local: Redis (the real `redis-server` from Debian,
//! with the password), Bedrock's runtime (`AWS_BEDROCK_RUNTIME_ENDPOINT`, the stand-in in
//! bedrock_runtime.rs), Jaeger (a closed port). No DATABASE_URL: the proxy's Prisma client
//! needs native engines that only binaries.prisma.sh serves, which this machine cannot reach
//! (see README, "What the tests cannot run").

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `litellm` command of the pinned install.
pub fn litellm_bin() -> PathBuf {
    if let Ok(p) = std::env::var("DEPLOYCTL_TEST_LITELLM") {
        return PathBuf::from(p);
    }
    let venv = super::repo_root().join(".venv-litellm/bin/litellm");
    assert!(
        venv.exists(),
        "the real LiteLLM proxy is not installed ({}): run scripts/test.sh, which installs tests/requirements-litellm.txt into .venv-litellm",
        venv.display()
    );
    venv
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real Redis with a password, on a free port, for as long as the value lives.
pub struct Redis {
    pub port: u16,
    pub password: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Redis {
    /// One command over RESP (authenticated with the password); the raw reply.
    pub fn command(&self, args: &[&str]) -> String {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let encode = |args: &[&str]| {
            let mut out = format!("*{}\r\n", args.len());
            for a in args {
                out.push_str(&format!("${}\r\n{a}\r\n", a.len()));
            }
            out
        };
        let mut req = encode(&["AUTH", &self.password]);
        req.push_str(&encode(args));
        s.write_all(req.as_bytes()).unwrap();
        let mut buf = [0u8; 4096];
        let mut reply = String::new();
        // "+OK\r\n" for AUTH, then the command's reply.
        while reply.matches("\r\n").count() < 2 {
            let n = s.read(&mut buf).unwrap_or(0);
            if n == 0 {
                break;
            }
            reply.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        reply
            .split_once("\r\n")
            .map(|(_, r)| r.to_string())
            .unwrap_or(reply)
    }

    pub fn start(password: &str) -> Redis {
        let bin = super::find_on_path("redis-server", &[PathBuf::from("/usr/bin")])
            .unwrap_or_else(|| {
                panic!("redis-server is not installed: run scripts/test.sh, which installs Debian's redis-server")
            });
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        // The password in a file, not in argv.
        let conf = dir.path().join("redis.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\nrequirepass {password}\nsave \"\"\nappendonly no\ndir {}\n",
                dir.path().display()
            ),
        )
        .unwrap();
        let child = Command::new(bin)
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "redis-server did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Redis {
            port,
            password: password.to_string(),
            child,
            _dir: dir,
        }
    }
}

/// One HTTP/1.1 answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A plain HTTP request to 127.0.0.1:`port` (blocking; `Connection: close`).
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> std::io::Result<Answer> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut rest = raw.get(split + 4..).unwrap_or_default().to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        let mut out = Vec::new();
        let mut data = &rest[..];
        while let Some(pos) = data.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(
                String::from_utf8_lossy(&data[..pos])
                    .split(';')
                    .next()
                    .unwrap()
                    .trim(),
                16,
            )
            .unwrap_or(0);
            if size == 0 {
                break;
            }
            let start = pos + 2;
            out.extend_from_slice(&data[start..(start + size).min(data.len())]);
            data = data.get(start + size + 2..).unwrap_or_default();
        }
        rest = out;
    }
    Ok(Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&rest).into_owned(),
    })
}

/// The proxy as the rendered release gives it: its configuration (the ConfigMap's
/// config.yaml) and its container's environment.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub config: Value,
    /// (name, value or the Secret it comes from)
    pub env: Vec<(String, EnvSource)>,
}

#[derive(Clone, Debug)]
pub enum EnvSource {
    Value(String),
    Secret { name: String, key: String },
}

impl Rendered {
    /// From `deployctl charts render` output.
    pub fn from_render(stdout: &str) -> Rendered {
        let objects = super::charts::parse_rendered(stdout);
        let lite = |kind: &str| {
            objects
                .iter()
                .filter(|o| o.release == "litellm" && o.value["kind"] == kind)
                .map(|o| o.value.clone())
                .collect::<Vec<_>>()
        };
        let cm = lite("ConfigMap")
            .into_iter()
            .find(|c| c["data"]["config.yaml"].is_string())
            .expect("the LiteLLM ConfigMap with config.yaml");
        let config: Value =
            serde_saphyr::from_str(cm["data"]["config.yaml"].as_str().unwrap()).unwrap();
        let deploy = lite("Deployment").remove(0);
        let c = &deploy["spec"]["template"]["spec"]["containers"][0];
        let env = c["env"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                let name = e["name"].as_str().unwrap().to_string();
                let src = match e["valueFrom"]["secretKeyRef"].as_object() {
                    Some(r) => EnvSource::Secret {
                        name: r["name"].as_str().unwrap().to_string(),
                        key: r["key"].as_str().unwrap().to_string(),
                    },
                    None => EnvSource::Value(e["value"].as_str().unwrap_or("").to_string()),
                };
                (name, src)
            })
            .collect();
        Rendered { config, env }
    }
}

/// A running proxy.
pub struct Proxy {
    pub port: u16,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    /// The last lines of the proxy's output (for failure messages).
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Start `litellm --config` with `config` and `env`, and wait until it answers
    /// /health/liveliness (or fails, with its output).
    pub fn start(config: &Value, env: &BTreeMap<String, String>) -> Result<Proxy, String> {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config.yaml");
        std::fs::write(&cfg, serde_json::to_string_pretty(config).unwrap()).unwrap();
        let log = dir.path().join("proxy.log");
        let port = free_port();
        let out = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(litellm_bin());
        cmd.args(["--config"])
            .arg(&cfg)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().map_err(|e| format!("starting litellm: {e}"))?;
        let mut proxy = Proxy {
            port,
            child,
            log,
            _dir: dir,
        };
        let started = Instant::now();
        loop {
            if let Ok(a) = request(port, "GET", "/health/liveliness", &[], None)
                && a.status == 200
            {
                return Ok(proxy);
            }
            if let Ok(Some(status)) = proxy.child.try_wait() {
                return Err(format!(
                    "the proxy exited at start-up ({status}):\n{}",
                    proxy.log_tail()
                ));
            }
            if started.elapsed() > Duration::from_secs(120) {
                return Err(format!(
                    "the proxy did not answer within 120s:\n{}",
                    proxy.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// Where the proxy's environment comes from in a test: the rendered environment with
/// `secrets` for its secretKeyRefs and the local addresses for Redis, Bedrock and Jaeger.
pub fn environment(
    rendered: &Rendered,
    secrets: &BTreeMap<(String, String), String>,
    redis: &Redis,
    bedrock_url: &str,
) -> Result<BTreeMap<String, String>, String> {
    let mut env = BTreeMap::new();
    for (name, src) in &rendered.env {
        let value = match src {
            EnvSource::Value(v) => v.clone(),
            EnvSource::Secret { name: s, key } => match secrets.get(&(s.clone(), key.clone())) {
                Some(v) => v.clone(),
                // The database URL: see the module doc.
                None if name == "DATABASE_URL" => continue,
                None => {
                    return Err(format!(
                        "{name} comes from Secret {s} key {key}, which the test does not have"
                    ));
                }
            },
        };
        env.insert(name.clone(), value);
    }
    // The network, local.
    env.insert("REDIS_HOST".into(), "127.0.0.1".into());
    env.insert("REDIS_PORT".into(), redis.port.to_string());
    env.insert(
        "OTEL_ENDPOINT".into(),
        format!("http://127.0.0.1:{}", free_port()),
    );
    env.insert("AWS_BEDROCK_RUNTIME_ENDPOINT".into(), bedrock_url.into());
    // The machine: test credentials for SigV4, the price map packaged with LiteLLM (no
    // fetch from GitHub), nothing through a proxy.
    env.insert("AWS_ACCESS_KEY_ID".into(), "AKIAIOSFODNN7EXAMPLE".into());
    env.insert(
        "AWS_SECRET_ACCESS_KEY".into(),
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
    );
    env.entry("AWS_REGION".into()).or_insert("us-east-1".into());
    env.insert("LITELLM_LOCAL_MODEL_COST_MAP".into(), "True".into());
    env.insert("NO_PROXY".into(), "127.0.0.1,localhost".into());
    Ok(env)
}
