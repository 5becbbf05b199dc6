//! What a real API server does with a custom resource before it stores it, from the
//! `openAPIV3Schema` of the CRD that defines it (apiextensions-apiserver's structural
//! schemas): nulls of non-nullable fields dropped, `default`s filled in, unknown fields
//! pruned — or, with `fieldValidation=Strict`, refused (400, "strict decoding error") — and
//! then validated: types, `x-kubernetes-int-or-string`, enums, required fields, string
//! lengths and patterns, numeric bounds, item counts, `allOf`/`anyOf`/`oneOf`/`not`, and the
//! CRD's CEL rules (`x-kubernetes-validations`) evaluated by the `cel` crate, a refusal being
//! a 422 `Invalid` listing every cause as the real server does.
//!
//! Not done (as not needed by what deployctl sends): `metadata` beyond its presence, the
//! `status` of the main endpoint (kept, as the status subresource owns it), transition rules
//! (those naming `oldSelf`, which a real server skips on create too), `messageExpression`
//! (the plain `message` is used), `format`, and the `Warning` headers of
//! `fieldValidation=Warn`.

use super::*;

/// A custom resource's fate: stored as `object`, or refused with this response (the handlers
/// return it as it is, so it is not boxed).
#[allow(clippy::result_large_err)]
pub(super) fn admit(
    store: &Store,
    rt: &ResourceType,
    obj: Value,
    q: &HashMap<String, String>,
) -> Result<Value, Response> {
    let Some(schema) = schema_of(store, rt) else {
        return Ok(obj);
    };
    let mut obj = obj;
    let mut found = Findings::default();
    walk(&mut obj, &schema, "", true, &mut found);
    let strict = q.get("fieldValidation").map(String::as_str) == Some("Strict");
    if strict && !found.unknown.is_empty() {
        let list: Vec<String> = found
            .unknown
            .iter()
            .map(|p| format!("unknown field \"{p}\""))
            .collect();
        return Err(status_error(
            400,
            "BadRequest",
            format!("strict decoding error: {}", list.join(", ")),
        ));
    }
    if !found.invalid.is_empty() {
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let causes = if found.invalid.len() == 1 {
            found.invalid[0].clone()
        } else {
            format!("[{}]", found.invalid.join(", "))
        };
        return Err(status_error(
            422,
            "Invalid",
            format!("{}.{} \"{name}\" is invalid: {causes}", rt.kind, rt.group),
        ));
    }
    Ok(obj)
}

/// The schema of `rt`'s version in the CRD stored for it; `None` for a built-in type.
fn schema_of(store: &Store, rt: &ResourceType) -> Option<Value> {
    if rt.group.is_empty() || rt.kind == "CustomResourceDefinition" {
        return None;
    }
    let key = (
        "apiextensions.k8s.io".to_string(),
        "customresourcedefinitions".to_string(),
        String::new(),
        format!("{}.{}", rt.plural, rt.group),
    );
    let crd = store.objects.get(&key)?;
    crd.pointer("/spec/versions")?
        .as_array()?
        .iter()
        .find(|v| v["name"] == json!(rt.version))?
        .pointer("/schema/openAPIV3Schema")
        .cloned()
}

#[derive(Default)]
struct Findings {
    /// Paths of fields the schema does not declare (pruned from the object).
    unknown: Vec<String>,
    /// `path: reason` lines, as the server words them.
    invalid: Vec<String>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn has_type(v: &Value, want: &str) -> bool {
    let have = type_name(v);
    have == want || (want == "number" && have == "integer")
}

fn flag(s: &Value, name: &str) -> bool {
    s.get(name).and_then(Value::as_bool).unwrap_or(false)
}

/// Drop nulls, fill defaults, prune unknown fields (recording them), then validate `v`
/// against `s`.
fn walk(v: &mut Value, s: &Value, path: &str, root: bool, out: &mut Findings) {
    if v.is_null() {
        if !flag(s, "nullable") {
            out.invalid.push(format!(
                "{path}: Invalid value: \"null\": {path} in body must not be null"
            ));
        }
        return;
    }
    if flag(s, "x-kubernetes-int-or-string") {
        if !matches!(type_name(v), "integer" | "string") {
            out.invalid.push(format!(
                "{path}: Invalid value: \"{}\": {path} in body must be of type integer-or-string",
                type_name(v)
            ));
            return;
        }
    } else if let Some(want) = s.get("type").and_then(Value::as_str)
        && !has_type(v, want)
    {
        out.invalid.push(format!(
            "{path}: Invalid value: \"{have}\": {path} in body must be of type {want}: \"{have}\"",
            have = type_name(v)
        ));
        return;
    }
    if let Value::Object(map) = v {
        object(map, s, path, root, out);
    }
    if let Value::Array(items) = v
        && let Some(item) = s.get("items")
    {
        for (i, child) in items.iter_mut().enumerate() {
            walk(child, item, &format!("{path}[{i}]"), false, out);
        }
    }
    value_rules(v, s, path, out);
    cel_rules(v, s, path, out);
}

fn object(
    map: &mut serde_json::Map<String, Value>,
    s: &Value,
    path: &str,
    root: bool,
    out: &mut Findings,
) {
    let props = s.get("properties").and_then(Value::as_object);
    let additional = s.get("additionalProperties");
    let preserve = flag(s, "x-kubernetes-preserve-unknown-fields");
    let embedded = flag(s, "x-kubernetes-embedded-resource");
    // Nulls of fields that are not nullable are dropped before anything else.
    map.retain(|k, child| {
        let nullable = props
            .and_then(|p| p.get(k))
            .or(additional.filter(|a| a.is_object()))
            .is_some_and(|cs| flag(cs, "nullable"));
        !child.is_null() || nullable
    });
    if let Some(props) = props {
        for (k, cs) in props {
            if !map.contains_key(k)
                && let Some(d) = cs.get("default")
            {
                map.insert(k.clone(), d.clone());
            }
        }
    }
    let keys: Vec<String> = map.keys().cloned().collect();
    for k in keys {
        let here = join(path, &k);
        if (root || embedded) && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        if root && k == "status" {
            continue;
        }
        if let Some(cs) = props.and_then(|p| p.get(&k)) {
            walk(map.get_mut(&k).unwrap(), cs, &here, false, out);
        } else if let Some(cs) = additional.filter(|a| a.is_object()) {
            walk(map.get_mut(&k).unwrap(), cs, &here, false, out);
        } else if additional.and_then(Value::as_bool) == Some(true) || preserve {
            continue;
        } else {
            out.unknown.push(here);
            map.remove(&k);
        }
    }
    for r in s
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !map.contains_key(r) {
            out.invalid
                .push(format!("{}: Required value", join(path, r)));
        }
    }
}

/// The checks on a value itself (and on the branches of `allOf`/`anyOf`/`oneOf`/`not`).
fn value_rules(v: &Value, s: &Value, path: &str, out: &mut Findings) {
    let shown = |v: &Value| match v {
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    };
    if let Some(choices) = s.get("enum").and_then(Value::as_array)
        && !choices.contains(v)
    {
        let list: Vec<String> = choices.iter().map(shown).collect();
        out.invalid.push(format!(
            "{path}: Unsupported value: {}: supported values: {}",
            shown(v),
            list.join(", ")
        ));
    }
    if let Value::String(text) = v {
        let len = text.chars().count() as u64;
        if let Some(max) = s.get("maxLength").and_then(Value::as_u64)
            && len > max
        {
            out.invalid.push(format!(
                "{path}: Too long: may not be more than {max} bytes"
            ));
        }
        if let Some(min) = s.get("minLength").and_then(Value::as_u64)
            && len < min
        {
            out.invalid.push(format!(
                "{path}: Invalid value: {}: {path} in body should be at least {min} chars long",
                shown(v)
            ));
        }
        if let Some(p) = s.get("pattern").and_then(Value::as_str)
            && let Ok(re) = regex::Regex::new(p)
            && !re.is_match(text)
        {
            out.invalid.push(format!(
                "{path}: Invalid value: {}: {path} in body should match '{p}'",
                shown(v)
            ));
        }
    }
    if let Some(n) = v.as_f64() {
        let excl_min = flag(s, "exclusiveMinimum");
        let excl_max = flag(s, "exclusiveMaximum");
        if let Some(min) = s.get("minimum").and_then(Value::as_f64)
            && (n < min || (excl_min && n == min))
        {
            out.invalid.push(format!(
                "{path}: Invalid value: {n}: {path} in body should be greater than or equal to {min}"
            ));
        }
        if let Some(max) = s.get("maximum").and_then(Value::as_f64)
            && (n > max || (excl_max && n == max))
        {
            out.invalid.push(format!(
                "{path}: Invalid value: {n}: {path} in body should be less than or equal to {max}"
            ));
        }
    }
    if let Value::Array(items) = v {
        if let Some(max) = s.get("maxItems").and_then(Value::as_u64)
            && items.len() as u64 > max
        {
            out.invalid.push(format!(
                "{path}: Too many: {}: must have at most {max} items",
                items.len()
            ));
        }
        if let Some(min) = s.get("minItems").and_then(Value::as_u64)
            && (items.len() as u64) < min
        {
            out.invalid.push(format!(
                "{path}: Invalid value: {}: {path} in body should have at least {min} items",
                items.len()
            ));
        }
    }
    // The branches validate the value only (structural schemas declare fields at the top).
    let passes = |branch: &Value| {
        let mut f = Findings::default();
        value_rules(v, branch, path, &mut f);
        if let (Value::Object(m), Some(req)) = (v, branch.get("required").and_then(Value::as_array))
        {
            for r in req.iter().filter_map(Value::as_str) {
                if !m.contains_key(r) {
                    f.invalid.push(r.to_string());
                }
            }
        }
        if let (Value::Object(m), Some(props)) =
            (v, branch.get("properties").and_then(Value::as_object))
        {
            for (k, cs) in props {
                if let Some(child) = m.get(k) {
                    value_rules(child, cs, &join(path, k), &mut f);
                }
            }
        }
        f.invalid.is_empty()
    };
    let branches = |name: &str| -> Vec<Value> {
        s.get(name)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    if branches("allOf").iter().any(|b| !passes(b)) {
        out.invalid.push(format!(
            "{path}: Invalid value: \"{}\": must validate all the schemas (allOf)",
            type_name(v)
        ));
    }
    let any = branches("anyOf");
    if !any.is_empty() && !any.iter().any(passes) {
        out.invalid.push(format!(
            "{path}: Invalid value: \"{}\": must validate at least one schema (anyOf)",
            type_name(v)
        ));
    }
    let one = branches("oneOf");
    if !one.is_empty() && one.iter().filter(|b| passes(b)).count() != 1 {
        out.invalid.push(format!(
            "{path}: Invalid value: \"{}\": must validate one and only one schema (oneOf)",
            type_name(v)
        ));
    }
    if let Some(not) = s.get("not")
        && passes(not)
    {
        out.invalid.push(format!(
            "{path}: Invalid value: \"{}\": must not validate the schema (not)",
            type_name(v)
        ));
    }
}

/// The CRD's CEL rules at this node, with `self` bound to the value (after pruning and
/// defaulting, as the real server evaluates them).
fn cel_rules(v: &Value, s: &Value, path: &str, out: &mut Findings) {
    for rule in s
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(text) = rule.get("rule").and_then(Value::as_str) else {
            continue;
        };
        if text.contains("oldSelf") {
            continue;
        }
        let at = match rule.get("fieldPath").and_then(Value::as_str) {
            Some(fp) => format!("{path}{fp}"),
            None => path.to_string(),
        };
        let message = rule
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("failed rule: {text}"));
        let verdict = cel::Program::compile(text)
            .map_err(|e| format!("compilation failed: {e}"))
            .and_then(|program| {
                let mut cx = cel::Context::default();
                cx.add_variable("self", v.clone())
                    .map_err(|e| format!("self: {e}"))?;
                program.execute(&cx).map_err(|e| e.to_string())
            });
        match verdict {
            Ok(cel::Value::Bool(true)) => {}
            Ok(cel::Value::Bool(false)) => out.invalid.push(format!(
                "{at}: Invalid value: \"{}\": {message}",
                type_name(v)
            )),
            Ok(other) => out.invalid.push(format!(
                "{at}: Invalid value: \"{}\": rule {text:?} gave {other:?}, not a bool",
                type_name(v)
            )),
            Err(e) => out.invalid.push(format!(
                "{at}: Invalid value: \"{}\": rule {text:?}: {e}",
                type_name(v)
            )),
        }
    }
}
