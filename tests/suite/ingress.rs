//! `deployctl load-balancer-controller` and `deployctl ingress`: the HTTPS entry point. Off
//! until a certificate is configured (both steps skipped, saying how to add one); with one,
//! the AWS Load Balancer Controller installed by the real helm from its real chart with its
//! IRSA role, the Ingresses made as configured, `verify` printing the addresses — and never an
//! entry point while OpenWebUI would make the first visitor its admin.

use crate::support;

use serde_json::Value;
use support::charts::project_with;
use support::moto::Moto;
use support::scenario::{Stack, stack};

const CERT: &str =
    "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555";

/// The chain up to OpenWebUI, then the entry point and verify.
const WITH_ENTRY: [&str; 13] = [
    "run",
    "irsa",
    "secrets",
    "helm-repos",
    "namespaces",
    "external-secrets",
    "secret-stores",
    "redis",
    "litellm",
    "openwebui",
    "load-balancer-controller",
    "ingress",
    "verify",
];

/// The monitoring Services verify's access table names (the test installs no monitoring).
fn monitoring_services(kube: &support::kube_server::FakeKube) {
    for name in [
        "kube-prometheus-grafana",
        "kube-prometheus-kube-prome-prometheus",
        "jaeger",
    ] {
        kube.insert(serde_json::json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "monitoring"},
            "spec": {"ports": [{"port": 80}]}}));
    }
}

fn entry_point(sb: &mut support::Sandbox) {
    sb.set("ENTRY_CERTIFICATE_ARN", CERT)
        .set("OPENWEBUI_HOST", "chat.example.com")
        .set("LITELLM_API_HOST", "llm-api.example.com")
        .set("ENTRY_SCHEME", "internet-facing")
        .set("ENTRY_ALLOWED_CIDRS", "203.0.113.0/24,198.51.100.7/32");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_certificate_there_is_no_entry_point_and_plan_says_how_to_add_one() {
    let (moto, _guard) = Moto::lock().await;
    let Stack {
        kube,
        sb,
        charts: _charts,
    } = stack(moto).await;
    let run = sb
        .run(&["plan", "load-balancer-controller", "ingress", "--with-deps"])
        .await;
    run.assert_code(0);
    for step in ["load-balancer-controller", "ingress"] {
        let row = run
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{step} ")))
            .unwrap_or_else(|| panic!("no plan row for {step}: {}", run.stdout));
        assert!(
            row.contains("skip") && row.contains("no entry point is configured"),
            "{row}"
        );
    }
    assert!(
        run.stdout.contains("ENTRY_CERTIFICATE_ARN"),
        "{}",
        run.stdout
    );
    assert!(kube.writes().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_entry_point_is_the_controller_the_ingresses_and_an_address_verify_prints() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    let Stack {
        kube,
        mut sb,
        charts: _charts,
    } = stack(moto).await;
    entry_point(&mut sb);
    monitoring_services(&kube);
    let run = sb.run(&WITH_ENTRY).await;
    run.assert_code(0);
    let all = run.all();

    // Handed to Flux, the controller (and every other release installed here) renders as
    // deployctl installed it, entry point overlay included (#27).
    let gitops = sb.path().join("gitops");
    sb.run(&["export", "--format", "flux", gitops.to_str().unwrap()])
        .await
        .assert_code(0);
    let compared = crate::export::assert_export_renders_as_installed(&sb, &gitops, &[]);
    assert!(
        compared.iter().any(|r| r == "aws-load-balancer-controller"),
        "{compared:?}"
    );
    // …and the Ingresses go with it, as deployctl applied them.
    let dir = gitops.join(format!("deployctl/{}/ingress", support::CLUSTER));
    let exported: String = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir:?}: {e}"))
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    for want in ["chat.example.com", "llm-api.example.com", CERT] {
        assert!(
            exported.contains(want),
            "{want} not in the exported Ingresses:\n{exported}"
        );
    }

    // The controller, by the real helm from its real chart, with the role irsa made for it
    // (its policy narrowed to this cluster's load balancers) and the cluster's VPC.
    let sa = kube
        .get(
            "v1",
            "ServiceAccount",
            Some("kube-system"),
            "aws-load-balancer-controller",
        )
        .expect("the controller's ServiceAccount");
    assert_eq!(
        sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        format!(
            "arn:aws:iam::{}:role/test-cluster-lb-controller",
            support::moto::ACCOUNT
        )
    );
    let deploy = kube
        .get(
            "apps/v1",
            "Deployment",
            Some("kube-system"),
            "aws-load-balancer-controller",
        )
        .expect("the controller's Deployment");
    let args = deploy["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
    assert!(
        args.contains("--cluster-name=test-cluster") && args.contains("--aws-vpc-id=vpc-"),
        "{args}"
    );
    let iam = aws_sdk_iam::Client::new(&sdk);
    let policy = iam
        .get_role_policy()
        .role_name("test-cluster-lb-controller")
        .policy_name("load-balancer-controller")
        .send()
        .await
        .expect("the controller's inline policy");
    let doc = percent_encoding::percent_decode_str(policy.policy_document())
        .decode_utf8_lossy()
        .into_owned();
    assert!(
        doc.contains("\"aws:ResourceTag/elbv2.k8s.aws/cluster\":\"test-cluster\""),
        "{doc}"
    );

    // The Ingresses, as configured.
    let ing = kube
        .get(
            "networking.k8s.io/v1",
            "Ingress",
            Some("open-webui"),
            "open-webui",
        )
        .expect("OpenWebUI's Ingress");
    let a = &ing["metadata"]["annotations"];
    let ann = |k: &str| {
        a[format!("alb.ingress.kubernetes.io/{k}")]
            .as_str()
            .unwrap_or("")
    };
    assert_eq!(ann("scheme"), "internet-facing");
    assert_eq!(ann("certificate-arn"), CERT);
    assert_eq!(ann("inbound-cidrs"), "203.0.113.0/24,198.51.100.7/32");
    assert_eq!(ann("ssl-redirect"), "443");
    assert_eq!(ann("listen-ports"), r#"[{"HTTP": 80}, {"HTTPS": 443}]"#);
    assert_eq!(ann("healthcheck-path"), "/health");
    assert!(ann("load-balancer-attributes").starts_with("idle_timeout.timeout_seconds="));
    assert_eq!(ing["spec"]["ingressClassName"], "alb");
    assert_eq!(ing["spec"]["rules"][0]["host"], "chat.example.com");
    let api = kube
        .get(
            "networking.k8s.io/v1",
            "Ingress",
            Some("litellm"),
            "litellm-api",
        )
        .expect("the API's Ingress");
    assert_eq!(
        api["metadata"]["annotations"]["alb.ingress.kubernetes.io/healthcheck-path"],
        "/health/liveliness"
    );
    assert_eq!(
        api["metadata"]["annotations"]["alb.ingress.kubernetes.io/group.name"],
        ing["metadata"]["annotations"]["alb.ingress.kubernetes.io/group.name"],
        "one load balancer for both"
    );
    // OpenWebUI knows its address (redirects after sign-in).
    let ui = kube
        .get("apps/v1", "Deployment", Some("open-webui"), "open-webui")
        .unwrap();
    let env: Vec<Value> = ui["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        env.iter()
            .any(|e| e["name"] == "WEBUI_URL" && e["value"] == "https://chat.example.com"),
        "{env:?}"
    );
    // verify prints the addresses, not port-forwards.
    assert!(
        all.contains("OpenWebUI    https://chat.example.com  (load balancer k8s-test-cluster-ent-"),
        "{all}"
    );
    assert!(
        all.contains("LiteLLM API  https://llm-api.example.com/v1"),
        "{all}"
    );
    assert!(!all.contains("kubectl port-forward"), "{all}");

    // A load balancer the controller cannot make: its reason, from its events.
    kube.fail_ingresses(Some(
        "couldn't auto-discover subnets: unable to resolve at least one subnet (0 match VPC and tags: [kubernetes.io/role/elb])",
    ));
    for (ns, name) in [("open-webui", "open-webui"), ("litellm", "litellm-api")] {
        let mut i = kube
            .get("networking.k8s.io/v1", "Ingress", Some(ns), name)
            .unwrap();
        i["status"] = serde_json::json!({});
        kube.insert(i);
    }
    let run = sb.run(&["verify"]).await;
    run.assert_code(1);
    assert!(
        run.all()
            .contains("has no address: the load balancer controller says FailedBuildModel: Failed build model due to couldn't auto-discover subnets"),
        "{}",
        run.all()
    );

    // The controller holds each Ingress (its finalizer) until it has deleted the load
    // balancer: removing the controller while they stay is refused, nothing removed...
    let ingresses = || {
        kube.list("networking.k8s.io/v1", "Ingress")
            .iter()
            .map(|i| {
                format!(
                    "{}/{}",
                    i["metadata"]["namespace"].as_str().unwrap(),
                    i["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(ingresses().len(), 2);
    let before = kube.resource_version();
    let run = sb
        .run(&[
            "uninstall",
            "load-balancer-controller",
            "--confirm-destroy",
            "test-cluster",
        ])
        .await;
    run.assert_code(1);
    for needle in [
        "while Ingresses of class alb remain (",
        "open-webui/open-webui",
        "litellm/litellm-api",
        "nothing was removed",
        "`deployctl uninstall load-balancer-controller ingress`",
    ] {
        assert!(run.all().contains(needle), "{needle}: {}", run.all());
    }
    assert_eq!(kube.resource_version(), before, "nothing was changed");
    // ... and removing both waits for the Ingresses to go before the controller does: an
    // Ingress left when the controller went would stay (Terminating) for good.
    let run = sb
        .run(&[
            "uninstall",
            "load-balancer-controller",
            "ingress",
            "--confirm-destroy",
            "test-cluster",
        ])
        .await;
    run.assert_code(0);
    assert!(ingresses().is_empty(), "Ingresses left: {:?}", ingresses());
    assert!(
        kube.get(
            "apps/v1",
            "Deployment",
            Some("kube-system"),
            "aws-load-balancer-controller"
        )
        .is_none(),
        "the controller was removed after its Ingresses"
    );

    // Installed again: the warnings the earlier Ingresses left (events live an hour) are
    // not about the new ones, which get their load balancer.
    kube.fail_ingresses(None);
    let run = sb
        .run(&["run", "load-balancer-controller", "ingress"])
        .await;
    run.assert_code(0);
    assert!(run.all().contains("load balancer k8s-"), "{}", run.all());
}

#[tokio::test(flavor = "multi_thread")]
async fn no_entry_point_while_openwebui_would_make_the_first_visitor_its_admin() {
    let (moto, _guard) = Moto::lock().await;
    let Stack {
        kube,
        mut sb,
        charts: _charts,
    } = stack(moto).await;
    entry_point(&mut sb);
    monitoring_services(&kube);
    // OpenWebUI without its start-up admin (as before this project made one).
    let project = project_with("helm-values/openwebui.yaml", |t| {
        let start = t.find("  - name: WEBUI_ADMIN_PASSWORD").unwrap();
        let end = start + t[start..].find("\n\n").unwrap();
        format!("{}{}", &t[..start], &t[end + 1..])
    });
    sb.set("DEPLOYCTL_DIR", project.path().to_str().unwrap());
    let run = sb.run(&WITH_ENTRY).await;
    run.assert_code(1);
    let all = run.all();
    assert!(
        all.contains("the first visitor would become its admin: the entry point was not created"),
        "{all}"
    );
    for (ns, name) in [("open-webui", "open-webui"), ("litellm", "litellm-api")] {
        assert!(
            kube.get("networking.k8s.io/v1", "Ingress", Some(ns), name)
                .is_none(),
            "Ingress {ns}/{name} was created"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chart_whose_new_crds_discovery_has_not_caught_up_with_is_installed_on_a_second_try() {
    let (moto, _guard) = Moto::lock().await;
    let Stack {
        kube,
        mut sb,
        charts: _charts,
    } = stack(moto).await;
    entry_point(&mut sb);
    // Discovery serves a new CRD's kind only 1.5 s after the CRD is established: helm's one
    // look after making the chart's CRDs finds no IngressClassParams.
    kube.set_discovery_lag(std::time::Duration::from_millis(1500));
    let run = sb
        .run(&["run", "irsa", "helm-repos", "load-balancer-controller"])
        .await;
    run.assert_code(0);
    assert!(
        run.all()
            .contains("discovery lagged behind the chart's new CRDs: trying again"),
        "{}",
        run.all()
    );
    let installs = sb
        .helm_calls()
        .iter()
        .filter(|c| c[0] == "upgrade" && c[2] == "aws-load-balancer-controller")
        .count();
    assert_eq!(installs, 2);
}
