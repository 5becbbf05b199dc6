//! The object store: resource versions, create/update/delete with the API server's rules,
//! owner references, label and field selectors, and the event history watches replay.

use super::*;

pub(super) fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// JSON merge patch (RFC 7386), also our approximation of server-side apply.
pub fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

pub(super) fn labels_match(obj: &Value, selector: &str) -> bool {
    let labels = obj
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    selector.split(',').filter(|s| !s.is_empty()).all(|req| {
        if let Some((k, v)) = req.split_once("!=") {
            labels.get(k.trim()).and_then(Value::as_str) != Some(v.trim())
        } else if let Some((k, v)) = req.split_once("==").or_else(|| req.split_once('=')) {
            labels.get(k.trim()).and_then(Value::as_str) == Some(v.trim())
        } else if let Some(k) = req.strip_prefix('!') {
            !labels.contains_key(k.trim())
        } else {
            labels.contains_key(req.trim())
        }
    })
}

pub(super) fn fields_match(obj: &Value, selector: &str) -> bool {
    selector.split(',').filter(|s| !s.is_empty()).all(|req| {
        let (k, v, neg) = if let Some((k, v)) = req.split_once("!=") {
            (k, v, true)
        } else if let Some((k, v)) = req.split_once("==").or_else(|| req.split_once('=')) {
            (k, v, false)
        } else {
            return true;
        };
        let pointer = format!("/{}", k.trim().replace('.', "/"));
        let have = obj.pointer(&pointer).and_then(Value::as_str).unwrap_or("");
        (have == v.trim()) != neg
    })
}

pub(super) fn key_of(rt: &ResourceType, ns: &str, name: &str) -> Key {
    (
        rt.group.clone(),
        rt.plural.clone(),
        if rt.namespaced {
            ns.into()
        } else {
            String::new()
        },
        name.into(),
    )
}

/// Fill in server-set metadata of a new object.
pub(super) fn finish_new(store: &mut Store, rt: &ResourceType, mut obj: Value) -> Value {
    let rv = store.next_rv();
    store.uid += 1;
    let uid = format!("00000000-0000-4000-8000-{:012}", store.uid);
    let meta = obj
        .as_object_mut()
        .map(|o| o.entry("metadata").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut);
    if let Some(meta) = meta {
        meta.insert("uid".into(), json!(uid));
        meta.insert("resourceVersion".into(), json!(rv.to_string()));
        meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
        meta.insert("generation".into(), json!(1));
        if !rt.namespaced {
            meta.remove("namespace");
        }
    }
    obj["apiVersion"] = json!(rt.api_version());
    obj["kind"] = json!(rt.kind);
    if rt.kind == "Namespace" {
        obj["status"] = json!({"phase": "Active"});
    }
    obj
}

/// Insert a new object (as a controller would create it).
pub(super) fn insert_new(
    shared: &Shared,
    store: &mut Store,
    group: &str,
    version: &str,
    plural: &str,
    ns: &str,
    obj: Value,
) {
    let Some(rt) = store.find_type(group, version, plural) else {
        return;
    };
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
    let key = key_of(&rt, ns, &name);
    if store.objects.contains_key(&key) {
        return;
    }
    let mut obj = finish_new(store, &rt, obj);
    if rt.namespaced {
        obj["metadata"]["namespace"] = json!(ns);
    }
    if rt.kind == "CustomResourceDefinition" {
        store.register_crd(&obj);
    }
    store.objects.insert(key.clone(), obj.clone());
    store.record(&shared.events, "ADDED", &key, obj);
}

/// Replace an object's status (a controller's status write).
pub(super) fn set_status(shared: &Shared, store: &mut Store, key: &Key, status: Value) {
    let Some(mut obj) = store.objects.get(key).cloned() else {
        return;
    };
    if obj.get("status") == Some(&status) {
        return;
    }
    obj["status"] = status;
    let rv = store.next_rv();
    obj["metadata"]["resourceVersion"] = json!(rv.to_string());
    let at = store.changed_at.get(key).copied();
    store.objects.insert(key.clone(), obj.clone());
    store.record(&shared.events, "MODIFIED", key, obj);
    if let Some(at) = at {
        store.changed_at.insert(key.clone(), at);
    }
}

impl Store {
    pub(super) fn find_type(
        &self,
        group: &str,
        version: &str,
        plural: &str,
    ) -> Option<ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
            .cloned()
    }

    pub(super) fn type_of_kind(&self, api_version: &str, kind: &str) -> Option<ResourceType> {
        self.types
            .iter()
            .find(|t| t.api_version() == api_version && t.kind == kind)
            .cloned()
    }

    pub(super) fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    pub(super) fn record(
        &mut self,
        shared_tx: &broadcast::Sender<Event>,
        kind: &'static str,
        key: &Key,
        object: Value,
    ) {
        let ev = Event {
            rv: self.rv,
            kind,
            group: key.0.clone(),
            plural: key.1.clone(),
            namespace: key.2.clone(),
            object,
        };
        self.history.push(ev.clone());
        self.changed_at.insert(key.clone(), Instant::now());
        let _ = shared_tx.send(ev);
    }

    /// CRDs add resource types to discovery.
    pub(super) fn register_crd(&mut self, crd: &Value) {
        let group = crd
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or("");
        let plural = crd
            .pointer("/spec/names/plural")
            .and_then(Value::as_str)
            .unwrap_or("");
        let kind = crd
            .pointer("/spec/names/kind")
            .and_then(Value::as_str)
            .unwrap_or("");
        let singular = crd
            .pointer("/spec/names/singular")
            .and_then(Value::as_str)
            .unwrap_or(&kind.to_lowercase())
            .to_string();
        let namespaced = crd.pointer("/spec/scope").and_then(Value::as_str) != Some("Cluster");
        let versions = crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for v in versions {
            let Some(version) = v.get("name").and_then(Value::as_str) else {
                continue;
            };
            let pending = self
                .unpublished
                .iter()
                .any(|(t, _)| t.group == group && t.version == version && t.plural == plural);
            if self.find_type(group, version, plural).is_none() && !pending {
                let rt = ResourceType {
                    group: group.into(),
                    version: version.into(),
                    plural: plural.into(),
                    singular: singular.clone(),
                    kind: kind.into(),
                    namespaced,
                };
                if self.discovery_lag.is_zero() {
                    self.types.push(rt);
                } else {
                    self.unpublished
                        .push((rt, Instant::now() + self.discovery_lag));
                }
            }
        }
    }

    /// Publish the new CRD types whose discovery lag has passed.
    pub(super) fn publish_due(&mut self) {
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.unpublished)
            .into_iter()
            .partition(|(_, at)| *at <= now);
        self.unpublished = later;
        self.types.extend(due.into_iter().map(|(t, _)| t));
    }

    pub(super) fn namespace_exists(&self, ns: &str) -> bool {
        self.objects
            .contains_key(&(String::new(), "namespaces".into(), String::new(), ns.into()))
    }
}
