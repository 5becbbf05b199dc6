//! What a release is installed *with*: our values file with the run's overlay on top, merged
//! as helm merges `-f` files (maps key by key, recursively; anything else: the later file
//! wins) — and how that differs from the values helm recorded for the live release. A
//! release whose recorded values differ from what a run would install is not healthy.

use anyhow::{Context as _, Result};
use serde_json::Value;
use std::path::Path;

/// `-f a -f b`: `b` over `a`, maps merged key by key.
pub fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// The values a run installs: `helm-values/<file>` with the overlay on top.
pub fn desired(values_file: &Path, overlay: &Value) -> Result<Value> {
    let text = std::fs::read_to_string(values_file)
        .with_context(|| format!("reading {}", values_file.display()))?;
    let mut v: Value = if text.trim().is_empty() {
        Value::Object(Default::default())
    } else {
        // As helm reads values (YAML 1.1 numbers: `0644` is octal, 420), so what a run would
        // install compares equal to what helm recorded.
        serde_saphyr::from_str_with_options(
            &text,
            serde_saphyr::options! { legacy_octal_numbers: true },
        )
        .with_context(|| format!("parsing {}", values_file.display()))?
    };
    if v.is_null() {
        v = Value::Object(Default::default());
    }
    merge(&mut v, overlay);
    Ok(v)
}

/// One difference between the recorded values and those a run installs, by dotted path.
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_are_read_as_helm_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("v.yaml");
        std::fs::write(&f, "volume:\n  defaultMode: 0644\n  count: 12\n").unwrap();
        let v = desired(&f, &json!({})).unwrap();
        assert_eq!(
            v["volume"]["defaultMode"], 420,
            "YAML 1.1 octal, as helm records it"
        );
        assert_eq!(v["volume"]["count"], 12);
    }

    #[test]
    fn a_secret_inside_a_list_is_never_shown() {
        let live = json!({"extraEnvVars": [{"name": "TOKEN", "value": "old-secret-value"}]});
        let want = json!({"extraEnvVars": [{"name": "TOKEN", "value": "new-secret-value"}]});
        let text = describe(&diff(&live, &want), 4);
        assert!(
            text.contains("extraEnvVars ((1 item) → (1 item))"),
            "{text}"
        );
        assert!(!text.contains("secret-value"), "{text}");
    }

    #[test]
    fn later_files_win_and_maps_merge() {
        let mut base = json!({"a": {"x": 1, "y": [1, 2]}, "b": "keep"});
        merge(&mut base, &json!({"a": {"x": 2, "y": [3]}, "c": true}));
        assert_eq!(
            base,
            json!({"a": {"x": 2, "y": [3]}, "b": "keep", "c": true})
        );
    }

    #[test]
    fn differences_are_named_by_path_and_secrets_masked() {
        let live = json!({"resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}, "replicas": 3.0, "auth": {"password": "old"}});
        let want = json!({"resources": {"requests": {"cpu": "300m", "memory": "128Mi"}}, "replicas": 3, "auth": {"password": "new"}, "extra": [1]});
        let d = diff(&live, &want);
        let paths: Vec<&str> = d.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["auth.password", "extra", "resources.requests.cpu"]);
        let text = describe(&d, 10);
        assert!(
            text.contains(r#"resources.requests.cpu ("100m" → "300m")"#),
            "{text}"
        );
        assert!(
            text.contains("auth.password ((masked) → (masked))"),
            "{text}"
        );
        assert!(!text.contains("old") && !text.contains("new"), "{text}");
        assert!(text.contains("extra ((unset) → (1 item))"), "{text}");
        assert!(diff(&want, &want).is_empty());
        assert!(describe(&d, 1).ends_with("and 2 more"));
    }
}
