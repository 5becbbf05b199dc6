//! The leaf-by-leaf difference of two JSON values by dotted path, secret-like paths masked:
//! a release's recorded values against those a run installs (`stack::render::values`), a
//! live object against its server-side apply dry run (`platform::kubeapi::apply::drift`).

use serde_json::Value;

/// One difference, by dotted path: what is live and what is wanted.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub path: String,
    pub live: Option<Value>,
    pub desired: Option<Value>,
}

/// Every leaf that differs (lists compare whole). Numbers compare by value (helm stores
/// them as JSON floats).
pub fn diff(live: &Value, desired: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    walk("", Some(live), Some(desired), &mut out);
    out
}

/// Equal as JSON values, numbers by value (helm stores them as floats).
pub(crate) fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn walk(path: &str, live: Option<&Value>, desired: Option<&Value>, out: &mut Vec<Change>) {
    match (live, desired) {
        (Some(Value::Object(l)), Some(Value::Object(d))) => {
            let mut keys: Vec<&String> = l.keys().chain(d.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(&p, l.get(k), d.get(k), out);
            }
        }
        (Some(l), Some(d)) if same(l, d) => {}
        (l, d) => out.push(Change {
            path: path.to_string(),
            live: l.cloned(),
            desired: d.cloned(),
        }),
    }
}

/// Whether a name (a key, a field) may hold a secret: password, secret, token, credential or
/// any kind of key (`apiKey`, `master_key`). Shared with `manifest_diff`.
pub(crate) fn secret_word(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["password", "secret", "token", "credential", "key"]
        .iter()
        .any(|w| n.contains(w))
}

/// Whether a key's value may be a secret: its value is never shown.
fn secret_like(path: &str) -> bool {
    path.rsplit('.').next().is_some_and(secret_word)
}

pub fn show(path: &str, v: &Option<Value>) -> String {
    match v {
        None => "(unset)".into(),
        Some(_) if secret_like(path) => "(masked)".into(),
        // A list or a map is compared whole: a secret inside it (an `extraEnvVars` value)
        // is not under a key this path names, so only its size is shown.
        Some(Value::Array(a)) => {
            format!("({} item{})", a.len(), if a.len() == 1 { "" } else { "s" })
        }
        Some(Value::Object(m)) => {
            format!("({} key{})", m.len(), if m.len() == 1 { "" } else { "s" })
        }
        Some(v) => {
            let t = v.to_string();
            if t.chars().count() > 40 {
                format!("{}…", t.chars().take(39).collect::<String>())
            } else {
                t
            }
        }
    }
}

/// "values changed: a.b (1 → 2), c (unset → "x")": the keys, their old and new values
/// (masked where the key may hold a secret), at most `max` of them.
pub fn describe(changes: &[Change], max: usize) -> String {
    let mut items: Vec<String> = changes
        .iter()
        .take(max)
        .map(|c| {
            format!(
                "{} ({} → {})",
                c.path,
                show(&c.path, &c.live),
                show(&c.path, &c.desired)
            )
        })
        .collect();
    if changes.len() > max {
        items.push(format!("and {} more", changes.len() - max));
    }
    format!("values changed: {}", items.join(", "))
}
