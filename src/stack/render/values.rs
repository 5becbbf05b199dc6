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

pub use crate::json_diff::{Change, describe, diff, show};

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
