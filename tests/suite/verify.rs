//! `deployctl verify`: the stack's pods and services with ready counts and the access hints
//! (port-forwards bound to 127.0.0.1). It reads only, and fails naming the Service an access
//! hint points at that is not deployed, or the pod that is not ready.

use crate::support;

use deployctl::release_table::ACCESS;
use serde_json::{Value, json};
use support::Sandbox;
use support::kube_server::FakeKube;

fn service(ns: &str, name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": name, "namespace": ns},
           "spec": {"ports": [{"port": 80}]}})
}

/// A pod as the kubelet reports it: Running and Ready (or not), or a finished Job's pod.
fn pod(ns: &str, name: &str, ready: bool, succeeded: bool) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": name, "namespace": ns},
    "spec": {"containers": [{"name": "c", "image": "example/c:1"}]},
    "status": {
        "phase": if succeeded { "Succeeded" } else { "Running" },
        "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]
    }})
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_names_what_is_not_deployed_or_not_ready_and_passes_when_all_is() {
    let kube = FakeKube::start().await;
    let sb = Sandbox::new(&kube);

    // Nothing deployed: each access hint's Service is named, with the command to run.
    let run = sb.run(&["verify"]).await;
    run.assert_code(1);
    let all = run.all();
    for (what, ns, svc, _) in ACCESS {
        assert!(
            all.contains(&format!("{what} (svc/{svc} in {ns})")),
            "{all}"
        );
    }
    assert!(all.contains("run `deployctl all`"), "{all}");

    // Deployed, but one pod is not ready (a finished Job's pod does not count).
    for (_, ns, svc, _) in ACCESS {
        kube.insert(service(ns, svc));
    }
    kube.insert(pod("litellm", "litellm-0", true, false));
    kube.insert(pod("open-webui", "open-webui-0", false, false));
    kube.insert(pod("monitoring", "grafana-test", false, true));
    kube.clear_log();
    let run = sb.run(&["verify"]).await;
    run.assert_code(1);
    let all = run.all();
    assert!(
        all.contains("1 pods not ready: open-webui/open-webui-0"),
        "{all}"
    );
    assert!(
        kube.writes().is_empty(),
        "verify wrote: {:?}",
        kube.writes()
    );

    // Every pod ready: the table and the access hints, on loopback only.
    kube.insert(pod("open-webui", "open-webui-0", true, false));
    let run = sb.run(&["verify"]).await;
    run.assert_code(0);
    let all = run.all();
    assert!(all.contains("every pod ready"), "{all}");
    assert!(all.contains("open-webui         pods 1/1 ready"), "{all}");
    assert!(all.contains("monitoring         pods 0/0 ready"), "{all}");
    for (_, ns, svc, ports) in ACCESS {
        assert!(
            all.contains(&format!(
                "kubectl port-forward -n {ns} svc/{svc} {ports} --address 127.0.0.1"
            )),
            "{all}"
        );
    }
    assert!(!all.contains("0.0.0.0"), "{all}");
}
