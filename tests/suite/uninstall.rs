//! `deployctl uninstall`: releases and objects removed in reverse graph order; AWS, data and
//! namespaces kept.

use crate::support;

use serde_json::Value;
use support::moto::Moto;
use support::scenario::{Stack, stack};
use support::{CLUSTER, Sees, Types, dialog};

#[tokio::test(flavor = "multi_thread")]
async fn uninstall_removes_releases_and_objects_in_reverse_order_and_keeps_aws_and_data() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    let Stack {
        kube,
        sb,
        charts: _charts,
    } = stack(moto).await;
    sb.run(&[
        "run",
        "irsa",
        "secrets",
        "helm-repos",
        "namespaces",
        "gatekeeper",
        "opa-policies",
        "jaeger",
    ])
    .await
    .assert_code(0);
    let helm_list = || {
        let out = sb
            .helm_command(&["list", "-A", "-o", "json"])
            .output()
            .unwrap();
        let v: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        v.iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(helm_list().len(), 2, "gatekeeper and jaeger are installed");
    let templates = || {
        kube.list("templates.gatekeeper.sh/v1", "ConstraintTemplate")
            .len()
    };
    assert!(templates() > 0);

    // CI without the name, or with another cluster's: exit 2, nothing removed.
    for args in [
        vec!["uninstall"],
        vec!["uninstall", "--confirm-destroy", "someone-elses"],
    ] {
        let run = sb.run(&args).await;
        run.assert_code(2);
        assert!(run.stderr.contains("nothing was removed"), "{}", run.stderr);
        assert!(run.stderr.contains("--confirm-destroy"), "{}", run.stderr);
    }
    assert_eq!(helm_list().len(), 2);
    kube.clear_log();

    // Not a removable step: a usage error naming what uninstall does remove.
    let run = sb
        .run(&["uninstall", "secrets", "--confirm-destroy", CLUSTER])
        .await;
    run.assert_code(2);
    assert!(
        run.stderr.contains("not removed by uninstall"),
        "{}",
        run.stderr
    );

    let run = sb
        .run(&[
            "uninstall",
            "gatekeeper",
            "opa-policies",
            "jaeger",
            "--confirm-destroy",
            CLUSTER,
            "--output",
            "json",
        ])
        .await;
    run.assert_code(0);
    assert!(helm_list().is_empty(), "{:?}", helm_list());
    // deployctl's own objects were deleted (helm never removes the templates' CRD's
    // objects), and before Gatekeeper went: the templates' DELETEs come first.
    assert_eq!(templates(), 0);
    let calls = sb.helm_calls();
    let uninstall_of = |name: &str| {
        calls
            .iter()
            .position(|c| c.len() > 1 && c[0] == "uninstall" && c[1] == name)
            .unwrap_or_else(|| panic!("no helm uninstall {name}: {calls:?}"))
    };
    assert!(
        uninstall_of("jaeger") < uninstall_of("gatekeeper"),
        "reverse graph order: {calls:?}"
    );
    assert!(
        kube.writes()
            .iter()
            .any(|r| r.method == "DELETE" && r.path.contains("constrainttemplates")),
        "the templates were not deleted by deployctl"
    );
    // The JSON summary lists each step, in removal order.
    let summary: Value = serde_json::from_str(run.stdout.lines().last().unwrap()).unwrap();
    let order: Vec<&str> = summary["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["jaeger", "opa-policies", "gatekeeper"]);
    assert!(
        run.stderr
            .contains("Kept (uninstall does not remove these):"),
        "{}",
        run.stderr
    );
    // Namespaces stay; AWS is untouched: every secret and both IRSA roles are still there.
    for ns in support::NAMESPACES {
        assert!(kube.get("v1", "Namespace", None, ns).is_some(), "{ns}");
    }
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let secrets = sm.list_secrets().send().await.unwrap();
    assert_eq!(secrets.secret_list().len(), 7);
    let iam = aws_sdk_iam::Client::new(&sdk);
    let roles = iam.list_roles().send().await.unwrap();
    assert!(roles.roles().len() >= 2, "{:?}", roles.roles());

    // Again: nothing left to remove is not a failure.
    let run = sb
        .run(&["uninstall", "jaeger", "--confirm-destroy", CLUSTER])
        .await;
    run.assert_code(0);
    assert!(run.stdout.contains("not installed"), "{}", run.stdout);

    // In a terminal the cluster's name is typed; another name removes nothing (exit 1).
    let before = sb.helm_calls().len();
    let code = dialog(
        &sb,
        &["uninstall", "jaeger"],
        &[
            Sees("Kept (uninstall does not remove these):"),
            Sees(&format!("Type `{CLUSTER}` to confirm: ")),
            Types("not-this-one\r"),
            Sees("nothing was removed"),
        ],
    )
    .await;
    assert_eq!(code, 1);
    assert!(
        sb.helm_calls()[before..]
            .iter()
            .all(|c| c[0] != "uninstall"),
        "{:?}",
        &sb.helm_calls()[before..]
    );
}

/// The "Kept" block of uninstall's screen: (what, names) per line.
fn kept_lines(text: &str) -> Vec<(String, Vec<String>)> {
    let start = text
        .rfind("Kept (uninstall does not remove these):")
        .expect("a Kept block");
    text[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| {
            let (what, names) = l.trim().split_once(": ")?;
            let names = names
                .split(", ")
                .map(str::to_string)
                .filter(|n| n != "none")
                .collect();
            Some((what.to_string(), names))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn uninstall_keeps_every_object_it_lists_and_a_reinstall_finds_the_same_data() {
    let (moto, _guard) = Moto::lock().await;
    let Stack {
        kube,
        sb,
        charts: _charts,
    } = stack(moto).await;
    let chain = [
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
        "monitoring",
    ];
    sb.run(&chain).await.assert_code(0);
    // The data volumes: each claim bound, its volume set to Retain by deployctl. (OpenWebUI
    // has none: its data is in PostgreSQL and S3, which uninstall never touches.)
    assert!(
        kube.list("v1", "PersistentVolumeClaim")
            .iter()
            .all(|c| c["metadata"]["namespace"] != "open-webui"),
        "OpenWebUI has a claim"
    );
    let data = [("monitoring", "kube-prometheus-grafana")];
    let identity = |ns: &str, name: &str| {
        let pvc = kube
            .get("v1", "PersistentVolumeClaim", Some(ns), name)
            .unwrap_or_else(|| panic!("no PVC {ns}/{name}"));
        let volume = pvc["spec"]["volumeName"].as_str().unwrap().to_string();
        let pv = kube
            .get("v1", "PersistentVolume", None, &volume)
            .unwrap_or_else(|| panic!("no volume {volume}"));
        (
            pvc["metadata"]["uid"].as_str().unwrap().to_string(),
            volume,
            pv["spec"]["csi"]["volumeHandle"]
                .as_str()
                .unwrap()
                .to_string(),
            pv["spec"]["persistentVolumeReclaimPolicy"]
                .as_str()
                .unwrap()
                .to_string(),
        )
    };
    let before: Vec<_> = data.iter().map(|(ns, n)| identity(ns, n)).collect();
    for (id, (ns, n)) in before.iter().zip(data) {
        assert_eq!(id.3, "Retain", "the volume of {ns}/{n}");
    }

    kube.clear_log();
    let run = sb.run(&["uninstall", "--confirm-destroy", CLUSTER]).await;
    run.assert_code(0);
    let deletes: Vec<String> = kube
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path)
        .collect();
    assert!(!deletes.is_empty());
    // Before and after: every object named as kept was never deleted.
    let text = run.stdout.clone();
    let first = text.find("Kept (uninstall").unwrap();
    for block in [
        &text[first..],
        &text[text.rfind("Kept (uninstall").unwrap()..],
    ] {
        let kept = kept_lines(block);
        let names = |what: &str| {
            kept.iter()
                .find(|(w, _)| w.starts_with(what))
                .map(|(_, n)| n.clone())
                .unwrap_or_else(|| panic!("no `{what}` line: {block}"))
        };
        let claims = names("PersistentVolumeClaims");
        for (ns, n) in data {
            assert!(claims.contains(&format!("{ns}/{n}")), "{claims:?}");
        }
        for c in &claims {
            let (ns, n) = c.split_once('/').unwrap();
            let path = format!("/api/v1/namespaces/{ns}/persistentvolumeclaims/{n}");
            assert!(!deletes.contains(&path), "kept {c} was deleted");
        }
        let namespaces = names("namespaces");
        assert_eq!(namespaces.len(), 5, "{namespaces:?}");
        for ns in &namespaces {
            assert!(!deletes.contains(&format!("/api/v1/namespaces/{ns}")));
        }
        let secrets = names("Secrets");
        assert!(
            secrets.contains(&"monitoring/grafana-admin-credentials".to_string()),
            "{secrets:?}"
        );
        for s in &secrets {
            let (ns, n) = s.split_once('/').unwrap();
            assert!(
                !deletes.contains(&format!("/api/v1/namespaces/{ns}/secrets/{n}")),
                "kept Secret {s} was deleted"
            );
        }
        let crds = names("CustomResourceDefinitions");
        assert!(
            crds.iter().any(|c| c.ends_with(".monitoring.coreos.com")),
            "{crds:?}"
        );
        for c in &crds {
            assert!(
                !deletes
                    .iter()
                    .any(|d| d.ends_with(&format!("/customresourcedefinitions/{c}"))),
                "kept CRD {c} was deleted"
            );
        }
    }
    // Nothing of OpenWebUI stays behind, its database set-up hook included.
    for (api, kind) in [
        ("apps/v1", "Deployment"),
        ("batch/v1", "Job"),
        ("v1", "ConfigMap"),
    ] {
        let left: Vec<_> = kube
            .list(api, kind)
            .into_iter()
            .filter(|o| o["metadata"]["namespace"] == "open-webui")
            .filter(|o| o["metadata"]["name"] != "kube-root-ca.crt")
            .map(|o| o["metadata"]["name"].clone())
            .collect();
        assert!(left.is_empty(), "{kind}s left in open-webui: {left:?}");
    }
    // The releases are gone; the claims and their volumes are not.
    for (i, (ns, n)) in data.iter().enumerate() {
        assert_eq!(identity(ns, n), before[i], "{ns}/{n} changed");
    }

    // A re-install takes the same claims over: the same claim, volume and disk.
    let run = sb.run(&chain).await;
    run.assert_code(0);
    for (i, (ns, n)) in data.iter().enumerate() {
        assert_eq!(
            identity(ns, n),
            before[i],
            "{ns}/{n} is not the same after a re-install"
        );
    }
}
