//! Kubernetes protobuf request bodies, as client-go sends them for built-in types when asked
//! to (helm 4 stores its release records as Secrets through such a client): the envelope
//! `k8s\0` + runtime.Unknown{typeMeta, raw}, and the messages helm sends — Secret,
//! ConfigMap, DeleteOptions — decoded into the JSON the rest of the fake server stores.
//! Field numbers are those of k8s.io/api's generated.proto.

use serde_json::{Map, Value, json};

const MAGIC: &[u8] = b"k8s\0";

/// One field of a message: number and value.
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or("truncated varint")?;
        *pos += 1;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(out);
        }
    }
    Err("varint too long".into())
}

fn fields(buf: &[u8]) -> Result<Vec<(u64, Field<'_>)>, String> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let tag = varint(buf, &mut pos)?;
        let (num, wire) = (tag >> 3, tag & 7);
        let f = match wire {
            0 => Field::Varint(varint(buf, &mut pos)?),
            2 => {
                let len = varint(buf, &mut pos)? as usize;
                let end = pos
                    .checked_add(len)
                    .filter(|e| *e <= buf.len())
                    .ok_or("truncated field")?;
                let f = Field::Bytes(&buf[pos..end]);
                pos = end;
                f
            }
            1 => {
                pos += 8;
                Field::Fixed
            }
            5 => {
                pos += 4;
                Field::Fixed
            }
            w => return Err(format!("unsupported wire type {w}")),
        };
        out.push((num, f));
    }
    Ok(out)
}

fn string(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|e| e.to_string())
}

/// A map<string, string|bytes> entry: (key, value bytes).
fn entry(b: &[u8]) -> Result<(String, &[u8]), String> {
    let mut key = String::new();
    let mut val: &[u8] = &[];
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(k)) => key = string(k)?,
            (2, Field::Bytes(v)) => val = v,
            _ => {}
        }
    }
    Ok((key, val))
}

fn time(b: &[u8]) -> Result<Value, String> {
    let mut secs = 0i64;
    for (n, f) in fields(b)? {
        if let (1, Field::Varint(v)) = (n, f) {
            secs = v as i64;
        }
    }
    if secs == 0 {
        return Ok(Value::Null);
    }
    Ok(jiff::Timestamp::from_second(secs)
        .map(|t| Value::String(t.to_string()))
        .unwrap_or(Value::Null))
}

/// Set `key` to a non-empty string (k8s messages encode empty strings explicitly; JSON omits
/// them).
fn put(m: &mut Map<String, Value>, key: &str, v: &[u8]) -> Result<(), String> {
    let s = string(v)?;
    if !s.is_empty() {
        m.insert(key.into(), s.into());
    }
    Ok(())
}

fn object_meta(b: &[u8]) -> Result<Value, String> {
    let mut m = Map::new();
    let mut labels = Map::new();
    let mut annotations = Map::new();
    let mut finalizers = Vec::new();
    let mut owners = Vec::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(v)) => put(&mut m, "name", v)?,
            (2, Field::Bytes(v)) => put(&mut m, "generateName", v)?,
            (3, Field::Bytes(v)) => put(&mut m, "namespace", v)?,
            (5, Field::Bytes(v)) => put(&mut m, "uid", v)?,
            (6, Field::Bytes(v)) => put(&mut m, "resourceVersion", v)?,
            (7, Field::Varint(v)) if v > 0 => drop(m.insert("generation".into(), v.into())),
            (8, Field::Bytes(v)) => {
                let t = time(v)?;
                if !t.is_null() {
                    m.insert("creationTimestamp".into(), t);
                }
            }
            (11, Field::Bytes(v)) => {
                let (k, val) = entry(v)?;
                labels.insert(k, string(val)?.into());
            }
            (12, Field::Bytes(v)) => {
                let (k, val) = entry(v)?;
                annotations.insert(k, string(val)?.into());
            }
            (13, Field::Bytes(v)) => {
                let mut o = Map::new();
                for (n, f) in fields(v)? {
                    match (n, f) {
                        (1, Field::Bytes(x)) => drop(o.insert("kind".into(), string(x)?.into())),
                        (3, Field::Bytes(x)) => drop(o.insert("name".into(), string(x)?.into())),
                        (4, Field::Bytes(x)) => drop(o.insert("uid".into(), string(x)?.into())),
                        (5, Field::Bytes(x)) => {
                            drop(o.insert("apiVersion".into(), string(x)?.into()))
                        }
                        (6, Field::Varint(x)) => {
                            drop(o.insert("controller".into(), (x != 0).into()))
                        }
                        _ => {}
                    }
                }
                owners.push(Value::Object(o));
            }
            (14, Field::Bytes(v)) => finalizers.push(Value::String(string(v)?)),
            _ => {}
        }
    }
    if !labels.is_empty() {
        m.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        m.insert("annotations".into(), Value::Object(annotations));
    }
    if !finalizers.is_empty() {
        m.insert("finalizers".into(), Value::Array(finalizers));
    }
    if !owners.is_empty() {
        m.insert("ownerReferences".into(), Value::Array(owners));
    }
    Ok(Value::Object(m))
}

fn secret(raw: &[u8]) -> Result<Value, String> {
    let mut out = json!({"apiVersion": "v1", "kind": "Secret"});
    let mut data = Map::new();
    let mut string_data = Map::new();
    for (n, f) in fields(raw)? {
        match (n, f) {
            (1, Field::Bytes(v)) => out["metadata"] = object_meta(v)?,
            (2, Field::Bytes(v)) => {
                let (k, val) = entry(v)?;
                data.insert(k, deployctl::platform::encoding::base64(val).into());
            }
            (3, Field::Bytes(v)) if !v.is_empty() => out["type"] = string(v)?.into(),
            (4, Field::Bytes(v)) => {
                let (k, val) = entry(v)?;
                string_data.insert(k, string(val)?.into());
            }
            (5, Field::Varint(v)) => out["immutable"] = (v != 0).into(),
            _ => {}
        }
    }
    if !data.is_empty() {
        out["data"] = Value::Object(data);
    }
    if !string_data.is_empty() {
        out["stringData"] = Value::Object(string_data);
    }
    Ok(out)
}

fn config_map(raw: &[u8]) -> Result<Value, String> {
    let mut out = json!({"apiVersion": "v1", "kind": "ConfigMap"});
    let mut data = Map::new();
    let mut binary = Map::new();
    for (n, f) in fields(raw)? {
        match (n, f) {
            (1, Field::Bytes(v)) => out["metadata"] = object_meta(v)?,
            (2, Field::Bytes(v)) => {
                let (k, val) = entry(v)?;
                data.insert(k, string(val)?.into());
            }
            (3, Field::Bytes(v)) => {
                let (k, val) = entry(v)?;
                binary.insert(k, deployctl::platform::encoding::base64(val).into());
            }
            (4, Field::Varint(v)) => out["immutable"] = (v != 0).into(),
            _ => {}
        }
    }
    if !data.is_empty() {
        out["data"] = Value::Object(data);
    }
    if !binary.is_empty() {
        out["binaryData"] = Value::Object(binary);
    }
    Ok(out)
}

fn delete_options(raw: &[u8]) -> Result<Value, String> {
    let mut out = json!({"apiVersion": "v1", "kind": "DeleteOptions"});
    for (n, f) in fields(raw)? {
        match (n, f) {
            (1, Field::Varint(v)) => out["gracePeriodSeconds"] = (v as i64).into(),
            (4, Field::Bytes(v)) if !v.is_empty() => out["propagationPolicy"] = string(v)?.into(),
            _ => {}
        }
    }
    Ok(out)
}

/// A protobuf request body as the JSON object it encodes.
pub fn to_json(body: &[u8]) -> Result<Value, String> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or("not a Kubernetes protobuf body (no k8s\\0 prefix)")?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for (n, f) in fields(rest)? {
        match (n, f) {
            (1, Field::Bytes(tm)) => {
                for (n, f) in fields(tm)? {
                    match (n, f) {
                        (1, Field::Bytes(v)) => api_version = string(v)?,
                        (2, Field::Bytes(v)) => kind = string(v)?,
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(v)) => raw = v,
            _ => {}
        }
    }
    let mut v = match kind.as_str() {
        "Secret" => secret(raw)?,
        "ConfigMap" => config_map(raw)?,
        "DeleteOptions" => delete_options(raw)?,
        other => {
            return Err(format!(
                "the fake server does not decode protobuf {api_version} {other}"
            ));
        }
    };
    if !api_version.is_empty() {
        v["apiVersion"] = api_version.into();
    }
    Ok(v)
}
