//! What the cluster's controllers would do: Deployments rolled out gradually, StatefulSets
//! by ordinal and revision, Pods that become ready, Jobs, PVCs, and the stack's operators
//! (External Secrets, Gatekeeper, the Prometheus Operator).

use super::*;

pub(super) fn reconcile(shared: &Arc<Shared>, delay: Duration) {
    let mut store = shared.store.lock().unwrap();
    let keys: Vec<Key> = store.objects.keys().cloned().collect();
    for key in keys {
        let old_enough = store
            .changed_at
            .get(&key)
            .is_none_or(|t| t.elapsed() >= delay);
        let Some(obj) = store.objects.get(&key).cloned() else {
            continue;
        };
        let generation = obj
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let observed = obj
            .pointer("/status/observedGeneration")
            .and_then(Value::as_i64);
        let mut updated = obj.clone();
        match (key.0.as_str(), key.1.as_str()) {
            ("apps", "deployments") | ("apps", "statefulsets") => {
                // Gradual rollouts (see `rollout_step`): one pod changes per step, and pods
                // become ready on their own (the "pods" arm below), so a rollout passes
                // through the states kubectl and helm must wait out.
                if !old_enough {
                    continue;
                }
                rollout_step(shared, &mut store, &key, &obj);
                continue;
            }
            ("", "persistentvolumeclaims") => {
                // A default StorageClass with immediate binding: every claim binds.
                if obj.pointer("/status/phase").and_then(Value::as_str) == Some("Bound")
                    || !old_enough
                {
                    continue;
                }
                let size = obj
                    .pointer("/spec/resources/requests/storage")
                    .cloned()
                    .unwrap_or(json!("1Gi"));
                updated["status"] = json!({
                    "phase": "Bound",
                    "accessModes": obj.pointer("/spec/accessModes").cloned().unwrap_or(json!(["ReadWriteOnce"])),
                    "capacity": {"storage": size}
                });
                // As the EBS CSI provisioner: a PersistentVolume named after the claim's UID,
                // with the reclaim policy of the claim's StorageClass (or the default one).
                let volume = format!(
                    "pvc-{}",
                    obj.pointer("/metadata/uid")
                        .and_then(Value::as_str)
                        .unwrap_or(&key.3)
                );
                let class = obj
                    .pointer("/spec/storageClassName")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .or_else(|| default_storage_class(&store));
                let reclaim = class
                    .as_deref()
                    .and_then(|c| {
                        store.objects.iter().find_map(|(k, o)| {
                            (k.1 == "storageclasses" && k.3 == c).then(|| {
                                o["reclaimPolicy"].as_str().unwrap_or("Delete").to_string()
                            })
                        })
                    })
                    .unwrap_or_else(|| "Delete".into());
                insert_new(
                    shared,
                    &mut store,
                    "",
                    "v1",
                    "persistentvolumes",
                    "",
                    json!({
                        "apiVersion": "v1", "kind": "PersistentVolume",
                        "metadata": {"name": volume},
                        "spec": {
                            "capacity": {"storage": size},
                            "accessModes": obj.pointer("/spec/accessModes").cloned().unwrap_or(json!(["ReadWriteOnce"])),
                            "persistentVolumeReclaimPolicy": reclaim,
                            "storageClassName": class,
                            "claimRef": {"namespace": key.2, "name": key.3, "uid": obj.pointer("/metadata/uid")},
                            "csi": {"driver": "ebs.csi.aws.com", "volumeHandle": format!("vol-{}", volume.trim_start_matches("pvc-"))}
                        },
                        "status": {"phase": "Bound"}
                    }),
                );
                updated["spec"]["volumeName"] = json!(volume);
            }
            ("networking.k8s.io", "ingresses") => {
                // The AWS Load Balancer Controller: an Ingress of class alb gets its load
                // balancer's DNS name and the controller's finalizer once the controller runs
                // — or, when it cannot build the load balancer, a Warning event saying why (as
                // the real one reports it). A deleted Ingress keeps its finalizer until the
                // controller has deleted the load balancer: without a running controller it
                // stays Terminating.
                if obj
                    .pointer("/spec/ingressClassName")
                    .and_then(Value::as_str)
                    != Some("alb")
                    || !old_enough
                {
                    continue;
                }
                let controller_ready = store
                    .objects
                    .get(&(
                        "apps".to_string(),
                        "deployments".to_string(),
                        "kube-system".to_string(),
                        "aws-load-balancer-controller".to_string(),
                    ))
                    .and_then(|d| d.pointer("/status/readyReplicas").and_then(Value::as_i64))
                    .is_some_and(|n| n > 0);
                if obj.pointer("/metadata/deletionTimestamp").is_some() {
                    let held = obj
                        .pointer("/metadata/finalizers")
                        .and_then(Value::as_array)
                        .is_some_and(|f| !f.is_empty());
                    if held && controller_ready {
                        // The load balancer is deleted: the finalizer comes off, the Ingress
                        // goes.
                        super::routes::remove_object(shared, &mut store, "Ingress", &key);
                    }
                    continue;
                }
                if obj.pointer("/status/loadBalancer/ingress").is_some() {
                    continue;
                }
                if !controller_ready {
                    continue;
                }
                if let Some(message) = shared.ingress_fail.lock().unwrap().clone() {
                    // One event per Ingress object (by uid), as the controller's recorder
                    // names them after the object.
                    let uid = obj
                        .pointer("/metadata/uid")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    let event = format!("{}.{}", key.3, uid.chars().take(8).collect::<String>());
                    let exists = store
                        .objects
                        .keys()
                        .any(|k| k.1 == "events" && k.3 == event);
                    if !exists {
                        insert_new(
                            shared,
                            &mut store,
                            "",
                            "v1",
                            "events",
                            &key.2,
                            json!({
                                "metadata": {"name": event, "namespace": key.2},
                                "involvedObject": {"kind": "Ingress", "name": key.3, "namespace": key.2,
                                    "uid": uid, "apiVersion": "networking.k8s.io/v1"},
                                "type": "Warning", "reason": "FailedBuildModel",
                                "message": format!("Failed build model due to {message}"),
                                "source": {"component": "ingress"},
                                "lastTimestamp": now_rfc3339(),
                            }),
                        );
                    }
                    continue;
                }
                let scheme = obj
                    .pointer("/metadata/annotations/alb.ingress.kubernetes.io~1scheme")
                    .and_then(Value::as_str)
                    .unwrap_or("internal");
                let group = obj
                    .pointer("/metadata/annotations/alb.ingress.kubernetes.io~1group.name")
                    .and_then(Value::as_str)
                    .unwrap_or(&key.3)
                    .to_string();
                let host = format!(
                    "{}k8s-{}-4f1c2d3e5a-1234567890.us-east-1.elb.amazonaws.com",
                    if scheme == "internal" {
                        "internal-"
                    } else {
                        ""
                    },
                    group.chars().take(16).collect::<String>()
                );
                updated["status"] = json!({"loadBalancer": {"ingress": [{"hostname": host,
                    "ports": [{"port": 80, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}]}]}});
                updated["metadata"]["finalizers"] =
                    json!([format!("group.ingress.k8s.aws/{group}")]);
            }
            ("batch", "jobs") => {
                // Jobs (chart hooks) run to completion — once their pod can be made: as the
                // real Job controller, a pod whose ServiceAccount does not exist is not
                // created (FailedCreate), and the Job waits.
                if obj.pointer("/status/succeeded").and_then(Value::as_i64) == Some(1)
                    || !old_enough
                {
                    continue;
                }
                let sa = obj
                    .pointer("/spec/template/spec/serviceAccountName")
                    .and_then(Value::as_str)
                    .unwrap_or("default");
                let sa_exists = sa == "default"
                    || store.objects.contains_key(&(
                        String::new(),
                        "serviceaccounts".to_string(),
                        key.2.clone(),
                        sa.to_string(),
                    ));
                if !sa_exists {
                    continue;
                }
                let now = now_rfc3339();
                if obj.pointer("/status/failed").is_some() {
                    continue;
                }
                if let Some(message) = shared.job_fail.lock().unwrap().get(&key.3).cloned() {
                    let limit = obj
                        .pointer("/spec/backoffLimit")
                        .and_then(Value::as_i64)
                        .unwrap_or(6);
                    updated["status"] = json!({
                        "startTime": now, "failed": limit + 1, "ready": 0,
                        "conditions": [
                            {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded",
                             "message": "Job has reached the specified backoff limit", "lastTransitionTime": now},
                            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                             "message": format!("Job has reached the specified backoff limit ({message})"),
                             "lastTransitionTime": now}
                        ]
                    });
                } else {
                    updated["status"] = json!({
                        "startTime": now, "completionTime": now, "succeeded": 1, "ready": 0,
                        "conditions": [
                            {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now},
                            {"type": "Complete", "status": "True", "lastTransitionTime": now}
                        ]
                    });
                }
            }
            ("apps", "daemonsets") => {
                if observed == Some(generation) || !old_enough {
                    continue;
                }
                updated["status"] = json!({
                    "observedGeneration": generation, "desiredNumberScheduled": 1,
                    "currentNumberScheduled": 1, "updatedNumberScheduled": 1,
                    "numberAvailable": 1, "numberReady": 1, "numberMisscheduled": 0
                });
            }
            ("", "pods") => {
                let phase = obj.pointer("/status/phase").and_then(Value::as_str);
                if phase == Some("Running") || !old_enough {
                    continue;
                }
                // The kubelet started it: ready, with a status per container.
                let containers = obj
                    .pointer("/spec/containers")
                    .cloned()
                    .unwrap_or(json!([]));
                updated["status"] = ready_pod_status_for(&containers);
            }
            ("apiextensions.k8s.io", "customresourcedefinitions") => {
                let established = obj
                    .pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .is_some_and(|c| {
                        c.iter()
                            .any(|c| c["type"] == "Established" && c["status"] == "True")
                    });
                if established || !old_enough {
                    continue;
                }
                updated["status"] = json!({
                    "conditions": [
                        {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
                        {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"}
                    ],
                    "acceptedNames": obj.pointer("/spec/names").cloned().unwrap_or(json!({}))
                });
            }
            _ => continue,
        }
        let rv = store.next_rv();
        updated["metadata"]["resourceVersion"] = json!(rv.to_string());
        store.objects.insert(key.clone(), updated.clone());
        // Status changes by a controller do not restart the readiness delay.
        let at = store.changed_at.get(&key).copied();
        store.record(&shared.events, "MODIFIED", &key, updated);
        if let Some(at) = at {
            store.changed_at.insert(key, at);
        }
    }
}

/// One step of a workload controller, as the real ones roll out (defaults: maxSurge 1,
/// maxUnavailable 0 for Deployments; OrderedReady, highest ordinal first for StatefulSets):
/// a Deployment surges one new pod, waits for it to be ready, then removes one old pod; a
/// StatefulSet creates pods in ordinal order and replaces them from the highest ordinal down,
/// each waiting for the previous to be ready. The status always tells the truth about the pods
/// (old and new replicas, revisions), and is written even when no pod changes.
pub(super) fn rollout_step(shared: &Shared, store: &mut Store, key: &Key, obj: &Value) {
    let is_deploy = key.1 == "deployments";
    let (ns, name) = (key.2.clone(), key.3.clone());
    let generation = obj
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let want = obj
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(0) as usize;
    let uid = obj.pointer("/metadata/uid").cloned().unwrap_or(Value::Null);
    // The template's revision: a new one for every spec change that touches the template
    // (the generation is close enough: scaling alone changes nothing but the count).
    let template = obj.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let revision = format!("{name}-{:x}", fnv(&template.to_string()));
    let hash_label = if is_deploy {
        "pod-template-hash"
    } else {
        "controller-revision-hash"
    };
    let mut pods = owned_pods(store, &ns, &uid);
    pods.sort_by(|a, b| a.0.3.cmp(&b.0.3));
    let rev_of = |p: &Value| {
        p.pointer(&format!("/metadata/labels/{hash_label}"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let is_ready = |p: &Value| {
        p.pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
    };
    let new_pod = |store: &mut Store, pod_name: String| {
        let mut labels = obj
            .pointer("/spec/template/metadata/labels")
            .cloned()
            .unwrap_or(json!({}));
        labels[hash_label] = json!(revision);
        let containers = obj
            .pointer("/spec/template/spec/containers")
            .cloned()
            .unwrap_or(json!([]));
        let rt = store.find_type("", "v1", "pods").expect("pods type");
        let pod = finish_new(
            store,
            &rt,
            json!({
                "metadata": {"name": pod_name, "namespace": ns, "labels": labels,
                    "ownerReferences": [{
                        "apiVersion": "apps/v1",
                        "kind": if is_deploy { "Deployment" } else { "StatefulSet" },
                        "name": name, "uid": uid, "controller": true}]},
                "spec": {"containers": containers},
                "status": {"phase": "Pending", "conditions": [
                    {"type": "PodScheduled", "status": "True"},
                    {"type": "Ready", "status": "False", "reason": "ContainersNotReady"}]},
            }),
        );
        let pod_key = (
            String::new(),
            "pods".to_string(),
            ns.clone(),
            pod["metadata"]["name"].as_str().unwrap_or("").to_string(),
        );
        store.objects.insert(pod_key.clone(), pod.clone());
        store.record(&shared.events, "ADDED", &pod_key, pod);
    };
    let remove_pod = |store: &mut Store, pod_key: &Key| {
        if let Some(o) = store.objects.remove(pod_key) {
            store.next_rv();
            store.record(&shared.events, "DELETED", pod_key, o);
        }
    };
    let all_ready = pods.iter().all(|(_, p)| is_ready(p));
    let updated: Vec<&(Key, Value)> = pods.iter().filter(|(_, p)| rev_of(p) == revision).collect();
    let old: Vec<&(Key, Value)> = pods.iter().filter(|(_, p)| rev_of(p) != revision).collect();
    let observed = obj
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64);
    // Make at most one pod change, and only once every pod is ready (the next step waits for
    // the last one) and the controller has observed the spec.
    if observed == Some(generation) && all_ready {
        if is_deploy {
            if !old.is_empty() && pods.len() > want {
                remove_pod(store, &old[0].0);
            } else if updated.len() < want {
                let n = (0..)
                    .find(|i| !pods.iter().any(|(k, _)| k.3 == format!("{revision}-{i}")))
                    .unwrap();
                new_pod(store, format!("{revision}-{n}"));
            } else if updated.len() > want {
                remove_pod(store, &updated[updated.len() - 1].0);
            } else if !old.is_empty() {
                remove_pod(store, &old[0].0);
            }
        } else {
            let ordinal = |k: &Key| {
                k.3.rsplit('-')
                    .next()
                    .and_then(|n| n.parse::<usize>().ok())
                    .unwrap_or(0)
            };
            if pods.len() < want {
                let n = (0..want)
                    .find(|i| !pods.iter().any(|(k, _)| ordinal(k) == *i))
                    .unwrap();
                new_pod(store, format!("{name}-{n}"));
            } else if pods.len() > want {
                let top = pods.iter().max_by_key(|(k, _)| ordinal(k)).unwrap();
                remove_pod(store, &top.0);
            } else if let Some(stale) = old.iter().max_by_key(|(k, _)| ordinal(k)) {
                // Replace the highest stale ordinal with one on the update revision.
                let n = ordinal(&stale.0);
                remove_pod(store, &stale.0);
                new_pod(store, format!("{name}-{n}"));
            }
        }
    }
    // The status, from the pods as they are now.
    let pods: Vec<Value> = owned_pods(store, &ns, &uid)
        .into_iter()
        .map(|(_, o)| o)
        .collect();
    let total = pods.len();
    let ready = pods.iter().filter(|p| is_ready(p)).count();
    let n_updated = pods.iter().filter(|p| rev_of(p) == revision).count();
    let status = if is_deploy {
        let done = n_updated == want && total == want && ready == want;
        json!({
            "observedGeneration": generation, "replicas": total,
            "readyReplicas": ready, "availableReplicas": ready,
            "updatedReplicas": n_updated, "unavailableReplicas": total.saturating_sub(ready),
            "conditions": [
                {"type": "Available", "status": if ready >= want { "True" } else { "False" },
                 "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "True",
                 "reason": if done { "NewReplicaSetAvailable" } else { "ReplicaSetUpdated" }}
            ]
        })
    } else {
        let previous = obj
            .pointer("/status/currentRevision")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let current = if n_updated == want && ready == want && total == want || previous.is_empty()
        {
            revision.clone()
        } else {
            previous
        };
        let current_replicas = pods.iter().filter(|p| rev_of(p) == current).count();
        json!({
            "observedGeneration": generation, "replicas": total,
            "readyReplicas": ready, "availableReplicas": ready,
            "currentReplicas": current_replicas, "updatedReplicas": n_updated,
            "currentRevision": current, "updateRevision": revision,
        })
    };
    set_status(shared, store, key, status);
}

/// The pods in `ns` whose owner is the object with `uid`.
pub(super) fn owned_pods(store: &Store, ns: &str, uid: &Value) -> Vec<(Key, Value)> {
    store
        .objects
        .iter()
        .filter(|(k, o)| {
            k.1 == "pods"
                && k.2 == ns
                && o.pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|r| r.iter().any(|r| r["uid"] == *uid))
        })
        .map(|(k, o)| (k.clone(), o.clone()))
        .collect()
}

/// FNV-1a, for stable revision names.
pub(super) fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

pub(super) fn ready_pod_status() -> Value {
    json!({
        "phase": "Running",
        "conditions": [
            {"type": "Ready", "status": "True"},
            {"type": "ContainersReady", "status": "True"},
            {"type": "PodScheduled", "status": "True"}
        ]
    })
}

/// Ready status with a ready containerStatus per container of `containers`.
pub(super) fn ready_pod_status_for(containers: &Value) -> Value {
    let mut st = ready_pod_status();
    st["containerStatuses"] = Value::Array(
        containers
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                json!({"name": c["name"], "ready": true, "restartCount": 0,
                       "image": c["image"], "imageID": "", "started": true})
            })
            .collect(),
    );
    st
}

/// The stack's operators, as far as deployctl can observe them: External Secrets (stores
/// become Ready, ExternalSecrets create their target Secret and report Ready — or the
/// injected failure — and re-sync on a `force-sync` annotation) and Gatekeeper (a template
/// creates its constraint CRD; constraints get an audit status).
pub(super) fn reconcile_stack(shared: &Arc<Shared>) {
    let failing = shared.es_fail.lock().unwrap().clone();
    let mut store = shared.store.lock().unwrap();
    let keys: Vec<Key> = store.objects.keys().cloned().collect();
    for key in keys {
        let Some(obj) = store.objects.get(&key).cloned() else {
            continue;
        };
        let generation = obj
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        match (key.0.as_str(), key.1.as_str()) {
            ("external-secrets.io", "clustersecretstores") => {
                let status = json!({"conditions": [{"type": "Ready", "status": "True",
                    "reason": "Valid", "message": "store validated"}],
                    "capabilities": "ReadWrite"});
                set_status(shared, &mut store, &key, status);
            }
            ("external-secrets.io", "externalsecrets") => {
                let name = key.3.clone();
                let force = obj
                    .pointer("/metadata/annotations/force-sync")
                    .cloned()
                    .unwrap_or(Value::Null);
                let synced_for = format!("{generation}-fake");
                let seen_force = obj
                    .pointer("/status/fakeForceSync")
                    .cloned()
                    .unwrap_or(Value::Null);
                if let Some(message) = failing.get(&name) {
                    let status = json!({"conditions": [{"type": "Ready", "status": "False",
                        "reason": "SecretSyncedError", "message": message}]});
                    set_status(shared, &mut store, &key, status);
                    continue;
                }
                if obj
                    .pointer("/status/syncedResourceVersion")
                    .and_then(Value::as_str)
                    == Some(synced_for.as_str())
                    && seen_force == force
                {
                    continue;
                }
                // The target Secret, with a value per key.
                let target = obj
                    .pointer("/spec/target/name")
                    .and_then(Value::as_str)
                    .unwrap_or(&name)
                    .to_string();
                let mut data = serde_json::Map::new();
                let mut values = Vec::new();
                for d in obj
                    .pointer("/spec/data")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(k) = d["secretKey"].as_str() {
                        let remote = d
                            .pointer("/remoteRef/key")
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        let v = format!("fake-value-of-{remote}-{}", now_rfc3339());
                        values.push((k.to_string(), v.clone()));
                        data.insert(
                            k.to_string(),
                            json!(deployctl::platform::encoding::base64(v.as_bytes())),
                        );
                    }
                }
                // A template (engine v2) makes the Secret's keys from the fetched values.
                if let Some(template) = obj
                    .pointer("/spec/target/template/data")
                    .and_then(Value::as_object)
                {
                    data = template
                        .iter()
                        .map(|(k, t)| {
                            let mut text = t.as_str().unwrap_or("").to_string();
                            for (name, v) in &values {
                                text = text.replace(&format!("{{{{ .{name} }}}}"), v);
                            }
                            (
                                k.clone(),
                                json!(deployctl::platform::encoding::base64(text.as_bytes())),
                            )
                        })
                        .collect();
                }
                let secret_key = (
                    String::new(),
                    "secrets".to_string(),
                    key.2.clone(),
                    target.clone(),
                );
                if let Some(mut existing) = store.objects.get(&secret_key).cloned() {
                    existing["data"] = Value::Object(data);
                    let rv = store.next_rv();
                    existing["metadata"]["resourceVersion"] = json!(rv.to_string());
                    store.objects.insert(secret_key.clone(), existing.clone());
                    store.record(&shared.events, "MODIFIED", &secret_key, existing);
                } else {
                    insert_new(
                        shared,
                        &mut store,
                        "",
                        "v1",
                        "secrets",
                        &key.2,
                        json!({
                            "metadata": {"name": target, "labels": {"reconcile.external-secrets.io/managed": "true"}},
                            "type": "Opaque", "data": Value::Object(data),
                        }),
                    );
                }
                let status = json!({
                    "conditions": [{"type": "Ready", "status": "True", "reason": "SecretSynced",
                        "message": "secret synced"}],
                    "refreshTime": now_rfc3339(),
                    "syncedResourceVersion": synced_for,
                    "fakeForceSync": force,
                });
                set_status(shared, &mut store, &key, status);
            }
            ("templates.gatekeeper.sh", "constrainttemplates") => {
                let Some(kind) = obj
                    .pointer("/spec/crd/spec/names/kind")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                else {
                    continue;
                };
                let plural = kind.to_lowercase();
                insert_new(
                    shared,
                    &mut store,
                    "apiextensions.k8s.io",
                    "v1",
                    "customresourcedefinitions",
                    "",
                    json!({
                        // Gatekeeper owns the constraint CRDs it makes: deleting the template
                        // takes its CRD (and the constraints) with it.
                        "metadata": {"name": format!("{plural}.constraints.gatekeeper.sh"),
                            "ownerReferences": [{"apiVersion": "templates.gatekeeper.sh/v1",
                                "kind": "ConstraintTemplate", "name": key.3,
                                "uid": obj.pointer("/metadata/uid"), "controller": true}]},
                        "spec": {"group": "constraints.gatekeeper.sh", "scope": "Cluster",
                            "names": {"kind": kind, "plural": plural, "singular": plural},
                            "versions": [
                                {"name": "v1beta1", "served": true, "storage": true,
                                 "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
                                {"name": "v1", "served": true, "storage": false,
                                 "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
                    }),
                );
                set_status(
                    shared,
                    &mut store,
                    &key,
                    json!({"created": true, "observedGeneration": generation}),
                );
            }
            // The Prometheus Operator: a Prometheus or Alertmanager object gets its
            // StatefulSet (`prometheus-<name>` / `alertmanager-<name>`), whose pods carry
            // app.kubernetes.io/name=prometheus / alertmanager.
            ("monitoring.coreos.com", plural @ ("prometheuses" | "alertmanagers")) => {
                let app = if plural == "prometheuses" {
                    "prometheus"
                } else {
                    "alertmanager"
                };
                let sts = format!("{app}-{}", key.3);
                let sts_key = (
                    "apps".to_string(),
                    "statefulsets".to_string(),
                    key.2.clone(),
                    sts.clone(),
                );
                if store.objects.contains_key(&sts_key) {
                    continue;
                }
                let replicas = obj
                    .pointer("/spec/replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                let labels = json!({"app.kubernetes.io/name": app, "app.kubernetes.io/instance": key.3,
                                    "app.kubernetes.io/managed-by": "prometheus-operator"});
                insert_new(
                    shared,
                    &mut store,
                    "apps",
                    "v1",
                    "statefulsets",
                    &key.2,
                    json!({
                        "metadata": {"name": sts, "namespace": key.2, "labels": labels,
                            "ownerReferences": [{"apiVersion": "monitoring.coreos.com/v1",
                                "kind": obj["kind"], "name": key.3,
                                "uid": obj.pointer("/metadata/uid").cloned().unwrap_or(Value::Null),
                                "controller": true}]},
                        "spec": {"replicas": replicas, "serviceName": format!("{app}-operated"),
                            "selector": {"matchLabels": labels},
                            "template": {"metadata": {"labels": labels},
                                "spec": {"containers": [{"name": app, "image": format!("quay.io/prometheus/{app}")}]}}}
                    }),
                );
            }
            ("constraints.gatekeeper.sh", _) => {
                if obj.pointer("/status/totalViolations").is_some() {
                    continue;
                }
                set_status(
                    shared,
                    &mut store,
                    &key,
                    json!({
                        "auditTimestamp": now_rfc3339(), "totalViolations": 0,
                        "byPod": [{"id": "gatekeeper-audit", "enforced": true}]
                    }),
                );
            }
            _ => {}
        }
    }
}

/// The StorageClass marked default, if any.
fn default_storage_class(store: &Store) -> Option<String> {
    store.objects.iter().find_map(|(k, o)| {
        (k.1 == "storageclasses"
            && o.pointer("/metadata/annotations/storageclass.kubernetes.io~1is-default-class")
                .and_then(Value::as_str)
                == Some("true"))
        .then(|| k.3.clone())
    })
}
