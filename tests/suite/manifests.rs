//! The repository's manifests and values files: `deployctl validate`, kubernetes-validate on
//! the built-in kinds, and the consistency rules between secrets, IAM, overlays and Services.

use crate::support;

use deployctl::stack::manifest::load;
use deployctl::stack::releases::Releases;
use serde_json::Value;
use std::path::{Path, PathBuf};
use support::repo_root;

fn yaml(rel: &str) -> Value {
    let text = std::fs::read_to_string(repo_root().join(rel)).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

pub(crate) fn manifest_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![repo_root().join("manifests")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn built_in_kinds_pass_kubernetes_validate() {
    let mut builtin = Vec::new();
    for f in manifest_files() {
        let docs = load(&f).unwrap();
        let kinds: Vec<bool> = docs
            .iter()
            .map(|d| support::is_builtin_api(d.api_version()))
            .collect();
        assert!(
            kinds.iter().all(|b| *b) || kinds.iter().all(|b| !*b),
            "{} mixes built-in and custom kinds",
            f.display()
        );
        if kinds.iter().all(|b| *b) {
            builtin.push(f);
        }
    }
    let names: Vec<String> = builtin
        .iter()
        .map(|p| p.strip_prefix(repo_root()).unwrap().display().to_string())
        .collect();
    assert!(
        names.contains(&"manifests/namespaces.yaml".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"manifests/dashboards/litellm.yaml".to_string()),
        "{names:?}"
    );
    support::kubernetes_validate(&builtin);
}

/// Every AWS secret name an ExternalSecret reads, with SECRETS_PREFIX=`prefix`.
fn external_secret_keys(prefix: &str) -> Vec<String> {
    let mut docs = load(&repo_root().join("manifests/external-secrets.yaml")).unwrap();
    docs.extend(load(&repo_root().join("manifests/openwebui-oidc.yaml")).unwrap());
    docs.iter()
        .flat_map(deployctl::steps::secret_stores::remote_keys)
        .map(|k| k.replace("${SECRETS_PREFIX}", prefix))
        .collect()
}

#[test]
fn every_secret_an_external_secret_reads_is_created_by_deployctl_or_terraform() {
    let tf =
        std::fs::read_to_string(repo_root().join("terraform/modules/secrets/main.tf")).unwrap();
    // Whatever `terraform fmt` aligns it to.
    assert!(
        tf.lines().any(|l| {
            let l: String = l.split_whitespace().collect();
            l == "name=\"${var.secrets_prefix}/database-url\""
        }),
        "modules/secrets no longer names <secrets_prefix>/database-url"
    );
    for prefix in ["litellm", "team-a/llm"] {
        // With single sign-on configured, so the OIDC client secret is among them.
        let access = deployctl::config::access::Access {
            oidc: Some(deployctl::config::access::Oidc {
                provider_url: "https://idp.example.com/.well-known/openid-configuration".into(),
                client_id: "openwebui".into(),
                scopes: "openid".into(),
                provider_name: "SSO".into(),
                allowed_domains: String::new(),
                roles_claim: String::new(),
                allowed_roles: String::new(),
                admin_roles: String::new(),
                groups_claim: String::new(),
            }),
            ..Default::default()
        };
        let managed = deployctl::stack::secret_names::managed_names(prefix, &access);
        let terraform = format!("{prefix}/database-url");
        for key in external_secret_keys(prefix) {
            assert!(
                managed.contains(&key) || key == terraform,
                "ExternalSecrets read {key}, which nothing creates (managed: {managed:?})"
            );
        }
    }
}

#[test]
fn the_external_secrets_policy_covers_every_secret_it_must_read() {
    let mut vars = deployctl::platform::aws::policy::Vars::new();
    vars.insert("PARTITION", "aws".into());
    vars.insert("REGION", "eu-west-1".into());
    vars.insert(
        "DNS_SUFFIX",
        deployctl::platform::aws::dns_suffix_of("eu-west-1"),
    );
    vars.insert("ACCOUNT_ID", "111122223333".into());
    vars.insert("SECRETS_PREFIX", "litellm".into());
    let policy = deployctl::platform::aws::policy::load(
        &repo_root().join("iam/external-secrets-policy.json"),
        &vars,
    )
    .unwrap();
    let statements = policy["Statement"].as_array().unwrap();
    let read: Vec<String> = statements
        .iter()
        .filter(|s| {
            s["Action"]
                .to_string()
                .contains("secretsmanager:GetSecretValue")
        })
        .flat_map(|s| s["Resource"].as_array().cloned().unwrap_or_default())
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    for key in external_secret_keys("litellm") {
        // Secrets Manager appends a 6-character suffix to every secret ARN.
        let arn = format!("arn:aws:secretsmanager:eu-west-1:111122223333:secret:{key}-AbCdEf");
        assert!(
            read.iter().any(|p| support::arn_glob(p, &arn)),
            "{arn} is not readable by {read:?}"
        );
    }
    // Terraform encrypts database-url with its own KMS key: decrypting through Secrets
    // Manager must be allowed.
    assert!(
        statements
            .iter()
            .any(|s| s["Action"].to_string().contains("kms:Decrypt")),
        "no kms:Decrypt for customer-managed keys"
    );
    // ... and only through Secrets Manager, named by its host in the region's partition.
    assert!(
        policy
            .to_string()
            .contains("\"kms:ViaService\":\"secretsmanager.eu-west-1.amazonaws.com\""),
        "{policy}"
    );
    vars.insert("REGION", "cn-north-1".into());
    vars.insert(
        "DNS_SUFFIX",
        deployctl::platform::aws::dns_suffix_of("cn-north-1"),
    );
    vars.insert(
        "PARTITION",
        deployctl::platform::aws::partition_of("cn-north-1").into(),
    );
    let china = deployctl::platform::aws::policy::load(
        &repo_root().join("iam/external-secrets-policy.json"),
        &vars,
    )
    .unwrap()
    .to_string();
    assert!(
        china.contains("\"kms:ViaService\":\"secretsmanager.cn-north-1.amazonaws.com.cn\"")
            && china.contains("arn:aws-cn:secretsmanager:cn-north-1:"),
        "{china}"
    );
}

#[test]
fn every_role_in_an_overlay_is_a_role_irsa_creates_for_that_service_account() {
    use deployctl::stack::roles::ROLES;
    use deployctl::steps::release::{OverlayInputs, overlay};
    let inputs = OverlayInputs {
        partition: "aws".into(),
        account: "111122223333".into(),
        region: "eu-west-1".into(),
        cluster: "prod-eks".into(),
        vpc_id: "vpc-1".into(),
        access: Default::default(),
    };
    let mut seen = 0;
    for rel in Releases::load(&repo_root()).unwrap().releases {
        let o = overlay(&rel.name, &inputs).unwrap();
        let Some(arn) = o["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"].as_str()
        else {
            assert!(
                !o.to_string().contains(":role/"),
                "{}: role outside the SA annotation",
                rel.name
            );
            continue;
        };
        seen += 1;
        let role = arn.rsplit_once(":role/").unwrap().1;
        let def = ROLES
            .iter()
            .find(|r| r.name("prod-eks") == role)
            .unwrap_or_else(|| {
                panic!(
                    "{}: overlay names role {role}, which irsa does not create",
                    rel.name
                )
            });
        // The role trusts the service account the chart runs as, in the release's namespace.
        let values = yaml(&format!("helm-values/{}", rel.values));
        assert_eq!(
            values["serviceAccount"]["name"], def.service_account,
            "{}",
            rel.name
        );
        assert_eq!(rel.namespace, def.namespace, "{}", rel.name);
    }
    assert_eq!(
        seen, 4,
        "external-secrets, litellm, open-webui and the load balancer controller carry role ARNs"
    );
}

// Which Service and port each reference names is checked on the charts as helm renders
// them (tests/charts.rs), not against constants here.

#[test]
fn the_check_is_not_vacuous() {
    assert!(support::arn_glob(
        "arn:*:secret:litellm/*",
        "arn:aws:secret:litellm/master-key-AbC"
    ));
    assert!(!support::arn_glob(
        "arn:*:secret:litellm/*",
        "arn:aws:secret:openwebui/x"
    ));
    assert!(Path::new(&repo_root().join("manifests/external-secrets.yaml")).is_file());
    assert_eq!(external_secret_keys("p").len(), 12);
}

/// The load balancer controller's role grants every action the controller's published policy
/// (v3.5.0, ../shared/aws) does — nothing it needs is missing — and every condition on the
/// `elbv2.k8s.aws/cluster` tag names this cluster, not "any cluster".
#[test]
fn the_load_balancer_controller_policy_covers_the_published_one_for_this_cluster_only() {
    let published: Value = serde_json::from_str(
        &std::fs::read_to_string(
            repo_root().join("../shared/aws/aws-load-balancer-controller-v3.5.0-iam-policy.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let ours: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("iam/aws-load-balancer-controller-policy.json"))
            .unwrap(),
    )
    .unwrap();
    let actions = |p: &Value| -> Vec<String> {
        p["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| match &s["Action"] {
                Value::String(a) => vec![a.clone()],
                Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
                _ => vec![],
            })
            .collect()
    };
    let ours_actions = actions(&ours);
    let missing: Vec<String> = actions(&published)
        .into_iter()
        .filter(|a| !ours_actions.contains(a))
        .collect();
    assert!(missing.is_empty(), "not granted: {missing:?}");
    let mut narrowed = 0;
    for s in ours["Statement"].as_array().unwrap() {
        let text = s["Condition"].to_string();
        for (op, cond) in s["Condition"].as_object().into_iter().flatten() {
            for (key, value) in cond.as_object().unwrap() {
                if key.ends_with("elbv2.k8s.aws/cluster") && op != "Null" {
                    assert_eq!(value, "${CLUSTER}", "{text}");
                    narrowed += 1;
                }
                // "the tag is present" is never the only check on an existing resource.
                if key.starts_with("aws:ResourceTag/elbv2.k8s.aws/cluster") {
                    assert_ne!(op, "Null", "{text}");
                }
            }
        }
    }
    assert!(narrowed >= 7, "only {narrowed} conditions name the cluster");
    // Every ARN names the partition through the placeholder.
    assert!(
        !ours.to_string().contains("arn:aws:"),
        "a partition is hard-coded"
    );
}
