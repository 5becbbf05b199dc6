//! The entry point as objects: the Ingresses `access.yaml` asks for (OpenWebUI's, and the
//! LiteLLM API's when it has a hostname), one ALB group per cluster. The `ingress` step
//! applies them; `render`, `validate` and `export` read the same documents.

use crate::config::access::{Access, EntryPoint};
use crate::stack::manifest::Document;
use serde_json::json;

/// One Ingress of the entry point: (namespace, name, Service, port, health path).
pub type Ingress = (&'static str, &'static str, &'static str, u16, &'static str);

/// The Ingresses of the entry point.
pub const INGRESSES: &[Ingress] = &[
    ("open-webui", "open-webui", "open-webui", 80, "/health"),
    (
        "litellm",
        "litellm-api",
        "litellm",
        4000,
        "/health/liveliness",
    ),
];

/// The load balancer group both Ingresses share: lower case, at most 63 characters.
pub fn group_name(cluster: &str) -> String {
    let base: String = cluster
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let name = format!("{base}-entry");
    if name.len() <= 63 {
        return name;
    }
    // Long cluster names: cut, and keep them apart with a short hash of the whole name.
    let hash = crate::platform::aws::iam::cluster_scoped_name(&base, "x");
    let tail: String = hash.chars().rev().take(8).collect::<String>();
    format!("{}-{tail}-entry", &base[..63 - 15])
}

/// The Ingress documents this configuration wants (none without an entry point).
pub fn documents(access: &Access, cluster: &str) -> Vec<Document> {
    let Some(entry) = access.entry_point() else {
        return Vec::new();
    };
    INGRESSES
        .iter()
        .filter_map(|row| {
            let host = match row.1 {
                "open-webui" => entry.openwebui_host,
                _ => entry.api_host?,
            };
            Some(document(access, &entry, cluster, row, host))
        })
        .collect()
}

fn document(
    access: &Access,
    entry: &EntryPoint<'_>,
    cluster: &str,
    &(ns, name, svc, port, health): &Ingress,
    host: &str,
) -> Document {
    let p = "alb.ingress.kubernetes.io";
    let mut annotations = serde_json::Map::new();
    let mut set = |k: &str, v: String| {
        annotations.insert(format!("{p}/{k}"), json!(v));
    };
    set("scheme", access.scheme.as_str().into());
    set("target-type", "ip".into());
    set("certificate-arn", entry.certificate_arn.into());
    set("listen-ports", r#"[{"HTTP": 80}, {"HTTPS": 443}]"#.into());
    set("ssl-redirect", "443".into());
    set("ssl-policy", access.ssl_policy.clone());
    if !access.allowed_cidrs.is_empty() {
        set("inbound-cidrs", access.allowed_cidrs.join(","));
    }
    set(
        "load-balancer-attributes",
        format!(
            "idle_timeout.timeout_seconds={}",
            access.idle_timeout_seconds
        ),
    );
    set("healthcheck-path", health.into());
    set("success-codes", "200".into());
    set("group.name", group_name(cluster));
    set(
        "tags",
        format!("app=litellm-stack,deployctl-cluster={cluster}"),
    );
    let value = json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {
                "app.kubernetes.io/name": name,
                "app.kubernetes.io/part-of": "litellm-stack",
                "app.kubernetes.io/managed-by": "deployctl",
            },
            "annotations": annotations,
        },
        "spec": {
            "ingressClassName": "alb",
            "rules": [{
                "host": host,
                "http": {"paths": [{
                    "path": "/", "pathType": "Prefix",
                    "backend": {"service": {"name": svc, "port": {"number": port}}},
                }]},
            }],
        },
    });
    Document {
        path: std::path::PathBuf::from(crate::config::access::FILE),
        line: 1,
        text: serde_json::to_string_pretty(&value).unwrap_or_default(),
        value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_fit_and_stay_apart() {
        assert_eq!(group_name("Prod_EKS"), "prod-eks-entry");
        let a = group_name(&"a".repeat(100));
        let b = group_name(&format!("{}b", "a".repeat(99)));
        assert!(a.len() <= 63 && b.len() <= 63, "{a} {b}");
        assert_ne!(a, b);
    }

    #[test]
    fn no_certificate_no_ingress_and_the_api_only_with_its_host() {
        let mut a = Access::default();
        assert!(documents(&a, "c").is_empty());
        a.certificate_arn = Some("arn:aws:acm:us-east-1:123456789012:certificate/x".into());
        a.openwebui_host = Some("chat.example.com".into());
        a.allowed_cidrs = vec!["10.0.0.0/8".into(), "192.0.2.0/24".into()];
        let docs = documents(&a, "c");
        assert_eq!(docs.len(), 1);
        let an = &docs[0].value["metadata"]["annotations"];
        assert_eq!(an["alb.ingress.kubernetes.io/scheme"], "internal");
        assert_eq!(an["alb.ingress.kubernetes.io/ssl-redirect"], "443");
        assert_eq!(
            an["alb.ingress.kubernetes.io/inbound-cidrs"],
            "10.0.0.0/8,192.0.2.0/24"
        );
        assert_eq!(
            an["alb.ingress.kubernetes.io/load-balancer-attributes"],
            "idle_timeout.timeout_seconds=600"
        );
        assert_eq!(an["alb.ingress.kubernetes.io/healthcheck-path"], "/health");
        a.api_host = Some("llm-api.example.com".into());
        let docs = documents(&a, "c");
        assert_eq!(docs.len(), 2);
        assert_eq!(
            docs[1].value["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"],
            json!({"name": "litellm", "port": {"number": 4000}})
        );
    }
}
