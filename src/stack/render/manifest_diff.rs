//! The difference between two rendered manifests (what helm applied for a release, and what a
//! run would apply), object by object and field by field: the objects added and removed, and
//! for each changed object the paths whose values differ. Lists of named items (containers,
//! env, ports, volumes) are matched by name, so one changed variable is one line. A value is
//! shown only when it cannot be a secret: Secret data, secret-like keys and environment
//! variables with secret-like names are masked.

use crate::json_diff::same;
use crate::stack::manifest;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Kind, namespace and name: one object of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// One field that differs, by path (`spec.template.spec.containers[name=x].image`).
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub path: String,
    pub live: Option<Value>,
    pub desired: Option<Value>,
    /// Never shown (Secret data, a secret-like key or variable).
    pub masked: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Added(Key),
    Removed(Key),
    Changed(Key, Vec<Field>),
}

/// The objects of a manifest by key (`default_ns` for namespaced objects without one;
/// cluster-scoped kinds keep none).
fn objects(yaml: &str, default_ns: &str) -> Result<BTreeMap<Key, Value>, String> {
    let docs = manifest::parse_documents(Path::new("manifest"), yaml).map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    for d in docs.into_iter().filter(|d| d.value.is_object()) {
        let kind = d.value["kind"].as_str().unwrap_or("?").to_string();
        let name = d.value["metadata"]["name"]
            .as_str()
            .unwrap_or("?")
            .to_string();
        let namespace = if cluster_scoped(&kind) {
            None
        } else {
            Some(
                d.value["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or(default_ns)
                    .to_string(),
            )
        };
        out.insert(
            Key {
                kind,
                namespace,
                name,
            },
            d.value,
        );
    }
    Ok(out)
}

/// The built-in kinds without a namespace (and those of the charts' own CRDs we know).
fn cluster_scoped(kind: &str) -> bool {
    crate::platform::kubeapi::BUILTIN_CLUSTER_SCOPED
        .iter()
        .any(|(_, k)| *k == kind)
        || kind == "ConstraintTemplate"
        || kind == "ClusterSecretStore"
}

/// Every added, removed and changed object, in kind/namespace/name order.
pub fn diff(live: &str, desired: &str, default_ns: &str) -> Result<Vec<Change>, String> {
    let live = objects(live, default_ns)?;
    let desired = objects(desired, default_ns)?;
    let mut keys: Vec<&Key> = live.keys().chain(desired.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for k in keys {
        match (live.get(k), desired.get(k)) {
            (None, Some(_)) => out.push(Change::Added(k.clone())),
            (Some(_), None) => out.push(Change::Removed(k.clone())),
            (Some(l), Some(d)) => {
                let mut fields = Vec::new();
                if k.kind == "Secret" {
                    // Its data, whatever the keys, is never shown.
                    for field in ["data", "stringData"] {
                        walk(field, l.get(field), d.get(field), true, &mut fields);
                    }
                    let strip = |v: &Value| {
                        let mut v = v.clone();
                        if let Some(m) = v.as_object_mut() {
                            m.remove("data");
                            m.remove("stringData");
                        }
                        v
                    };
                    walk("", Some(&strip(l)), Some(&strip(d)), false, &mut fields);
                } else {
                    walk("", Some(l), Some(d), false, &mut fields);
                }
                if !fields.is_empty() {
                    out.push(Change::Changed(k.clone(), fields));
                }
            }
            (None, None) => {}
        }
    }
    Ok(out)
}

/// Whether the last segment of a path names something secret.
/// Beyond the values' words, certificates and private material (`caBundle`, `privateKey`).
fn secret_like(segment: &str) -> bool {
    let s = segment.to_ascii_lowercase();
    crate::json_diff::secret_word(&s)
        || ["private", "cert", "cabundle"]
            .iter()
            .any(|w| s.contains(w))
}

/// `[{name: a, …}, …]` with unique names: the items by name.
fn by_name(items: &[Value]) -> Option<BTreeMap<String, &Value>> {
    let mut m = BTreeMap::new();
    for i in items {
        let n = i.get("name")?.as_str()?;
        if m.insert(n.to_string(), i).is_some() {
            return None;
        }
    }
    Some(m)
}

fn join(path: &str, seg: &str) -> String {
    if path.is_empty() {
        seg.to_string()
    } else {
        format!("{path}.{seg}")
    }
}

fn walk(
    path: &str,
    live: Option<&Value>,
    desired: Option<&Value>,
    masked: bool,
    out: &mut Vec<Field>,
) {
    match (live, desired) {
        (Some(Value::Object(l)), Some(Value::Object(d))) => {
            let mut keys: Vec<&String> = l.keys().chain(d.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = join(path, k);
                // A key that names a secret.
                let m = masked || secret_like(k);
                walk(&p, l.get(k), d.get(k), m, out);
            }
        }
        (Some(Value::Array(l)), Some(Value::Array(d))) if !same_array(l, d) => {
            match (by_name(l), by_name(d)) {
                (Some(lm), Some(dm)) => {
                    let mut names: Vec<&String> = lm.keys().chain(dm.keys()).collect();
                    names.sort();
                    names.dedup();
                    for n in names {
                        let p = format!("{path}[name={n}]");
                        // An environment variable named like a secret keeps its value hidden.
                        let m = masked || secret_like(n);
                        walk(&p, lm.get(n).copied(), dm.get(n).copied(), m, out);
                    }
                }
                _ if l.len() == d.len() => {
                    for (i, (a, b)) in l.iter().zip(d).enumerate() {
                        walk(&format!("{path}[{i}]"), Some(a), Some(b), masked, out);
                    }
                }
                _ => out.push(Field {
                    path: path.to_string(),
                    live: Some(Value::Array(l.clone())),
                    desired: Some(Value::Array(d.clone())),
                    masked,
                }),
            }
        }
        (Some(l), Some(d)) if same(l, d) => {}
        (None, None) => {}
        (l, d) => out.push(Field {
            path: path.to_string(),
            live: l.cloned(),
            desired: d.cloned(),
            masked,
        }),
    }
}

fn same_array(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
}

/// A value as shown: masked, a size for lists and maps, or short text.
pub fn show(v: &Option<Value>, masked: bool) -> String {
    match v {
        None => "(unset)".into(),
        Some(_) if masked => "(masked)".into(),
        Some(Value::Array(a)) => {
            format!("({} item{})", a.len(), if a.len() == 1 { "" } else { "s" })
        }
        Some(Value::Object(m)) => {
            format!("({} key{})", m.len(), if m.len() == 1 { "" } else { "s" })
        }
        Some(Value::String(s)) if s.contains('\n') => {
            format!("({} lines)", s.lines().count())
        }
        Some(v) => {
            let t = v.to_string();
            if t.chars().count() > 60 {
                format!("{}…", t.chars().take(59).collect::<String>())
            } else {
                t
            }
        }
    }
}

/// The changes as text lines: `+ Kind ns/name`, `- …`, `~ …` with a line per field.
pub fn lines(changes: &[Change]) -> Vec<String> {
    let mut out = Vec::new();
    for c in changes {
        match c {
            Change::Added(k) => out.push(format!("+ {k}")),
            Change::Removed(k) => out.push(format!("- {k}")),
            Change::Changed(k, fields) => {
                out.push(format!("~ {k}"));
                for f in fields {
                    out.push(format!(
                        "    {}: {} → {}",
                        f.path,
                        show(&f.live, f.masked),
                        show(&f.desired, f.masked)
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIVE: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n        - name: app\n          image: app:1\n          env:\n            - name: MODE\n              value: a\n            - name: API_KEY\n              value: old-key-value\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  password: b2xk\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: gone\n";
    const DESIRED: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n        - name: app\n          image: app:1\n          env:\n            - name: MODE\n              value: b\n            - name: API_KEY\n              value: new-key-value\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  password: bmV3\n---\napiVersion: v1\nkind: ClusterRole\nmetadata:\n  name: new\n";

    #[test]
    fn objects_and_fields_are_named_and_secrets_never_shown() {
        let changes = diff(LIVE, DESIRED, "ns").unwrap();
        let text = lines(&changes).join("\n");
        assert!(text.contains("+ ClusterRole new"), "{text}");
        assert!(text.contains("- Service ns/gone"), "{text}");
        assert!(text.contains("~ Deployment ns/app"), "{text}");
        assert!(text.contains("    spec.replicas: 1 → 2"), "{text}");
        assert!(
            text.contains(
                "spec.template.spec.containers[name=app].env[name=MODE].value: \"a\" → \"b\""
            ),
            "{text}"
        );
        assert!(
            text.contains("env[name=API_KEY].value: (masked) → (masked)"),
            "{text}"
        );
        assert!(
            text.contains("~ Secret ns/s\n    data.password: (masked) → (masked)"),
            "{text}"
        );
        for secret in ["old-key-value", "new-key-value", "b2xk", "bmV3"] {
            assert!(!text.contains(secret), "{text}");
        }
        // The image did not change: not listed.
        assert!(!text.contains("image"), "{text}");
        assert!(diff(LIVE, LIVE, "ns").unwrap().is_empty());
    }

    #[test]
    fn a_secrets_data_is_masked_whatever_its_keys() {
        let a =
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  url: redis://x\n";
        let b =
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  url: redis://y\n";
        let text = lines(&diff(a, b, "ns").unwrap()).join("\n");
        assert!(
            text.contains("stringData.url: (masked) → (masked)"),
            "{text}"
        );
    }
}
