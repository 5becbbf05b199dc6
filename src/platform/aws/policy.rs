//! IAM policy documents: the repo's editable policy files (placeholders substituted inside
//! JSON strings only, never by text), the IRSA trust policy, and semantic comparison.

use anyhow::{Context, Result, anyhow};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

/// Values for `${NAME}` placeholders in policy files.
pub type Vars = BTreeMap<&'static str, String>;

fn substitute_str(s: &str, vars: &Vars) -> Result<String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| anyhow!("unclosed `${{` in `{s}`"))?;
        let name = &after[..end];
        let value = vars
            .get(name)
            .ok_or_else(|| anyhow!("unknown placeholder `${{{name}}}` in `{s}`"))?;
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Replace `${NAME}` in every string of a JSON document.
pub fn substitute(v: &Value, vars: &Vars) -> Result<Value> {
    Ok(match v {
        Value::String(s) => Value::String(substitute_str(s, vars)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| substitute(x, vars))
                .collect::<Result<_>>()?,
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| Ok((k.clone(), substitute(x, vars)?)))
                .collect::<Result<_>>()?,
        ),
        other => other.clone(),
    })
}

/// Read a policy file of the repo and fill in its placeholders.
pub fn load(path: &Path, vars: &Vars) -> Result<Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read `{}`", path.display()))?;
    let v: Value = serde_json::from_str(&text)
        .with_context(|| format!("`{}` is not valid JSON", path.display()))?;
    substitute(&v, vars).with_context(|| format!("in `{}`", path.display()))
}

/// The IRSA trust policy for one service account.
pub fn trust_policy(
    partition: &str,
    account: &str,
    issuer: &str,
    namespace: &str,
    sa: &str,
) -> Value {
    let host = issuer.trim_start_matches("https://");
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": format!("arn:{partition}:iam::{account}:oidc-provider/{host}")},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                // The token audience, "sts.amazonaws.com" in every partition (China's too): the
                // EKS pod identity webhook's default, not a host name.
                format!("{host}:aud"): "sts.amazonaws.com",
                format!("{host}:sub"): format!("system:serviceaccount:{namespace}:{sa}"),
            }}
        }]
    })
}

/// A policy document as IAM returns it: URL-encoded JSON (moto may return it plain).
pub fn parse_document(doc: &str) -> Result<Value> {
    if let Ok(v) = serde_json::from_str(doc) {
        return Ok(v);
    }
    let decoded = percent_encoding::percent_decode_str(doc).decode_utf8_lossy();
    serde_json::from_str(&decoded).context("IAM returned a policy document that is not JSON")
}

/// A canonical form: one-element lists and single values alike, lists of strings sorted,
/// Statement always a list.
pub fn normalise(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| {
                    let x = normalise(x);
                    let x = match (k.as_str(), x) {
                        (
                            "Statement" | "Action" | "NotAction" | "Resource" | "NotResource",
                            Value::Array(a),
                        ) => Value::Array(a),
                        (
                            "Statement" | "Action" | "NotAction" | "Resource" | "NotResource",
                            single,
                        ) => Value::Array(vec![single]),
                        (_, x) => x,
                    };
                    (k.clone(), x)
                })
                .collect(),
        ),
        Value::Array(a) => {
            let mut items: Vec<Value> = a.iter().map(normalise).collect();
            if items.iter().all(Value::is_string) {
                items.sort_by(|x, y| x.as_str().cmp(&y.as_str()));
            }
            Value::Array(items)
        }
        other => other.clone(),
    }
}

pub fn same(a: &Value, b: &Value) -> bool {
    normalise(a) == normalise(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_replaced_inside_strings_only() {
        let vars: Vars = [
            ("REGION", "eu-west-1".to_string()),
            ("ACCOUNT_ID", "111122223333".into()),
        ]
        .into_iter()
        .collect();
        let v = json!({"Resource": ["arn:aws:secretsmanager:${REGION}:${ACCOUNT_ID}:secret:x/*"], "n": 1});
        let out = substitute(&v, &vars).unwrap();
        assert_eq!(
            out["Resource"][0],
            "arn:aws:secretsmanager:eu-west-1:111122223333:secret:x/*"
        );
        assert!(substitute(&json!("${NOPE}"), &vars).is_err());
    }

    #[test]
    fn trust_policy_names_the_service_account() {
        let t = trust_policy(
            "aws",
            "111122223333",
            "https://oidc.eks.us-east-1.amazonaws.com/id/ABC",
            "litellm",
            "litellm-sa",
        );
        let st = &t["Statement"][0];
        assert_eq!(
            st["Principal"]["Federated"],
            "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"
        );
        assert_eq!(
            st["Condition"]["StringEquals"]["oidc.eks.us-east-1.amazonaws.com/id/ABC:sub"],
            "system:serviceaccount:litellm:litellm-sa"
        );
        assert_eq!(
            st["Condition"]["StringEquals"]["oidc.eks.us-east-1.amazonaws.com/id/ABC:aud"],
            "sts.amazonaws.com"
        );
    }

    #[test]
    fn documents_compare_semantically() {
        let a = json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:Get", "Resource": ["b", "a"]}});
        let b = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:Get"], "Resource": ["a", "b"]}]});
        assert!(same(&a, &b));
        let c = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": ["s3:Get"], "Resource": ["a", "b"]}]});
        assert!(!same(&a, &c));
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%7D";
        assert_eq!(parse_document(encoded).unwrap()["Version"], "2012-10-17");
    }
}
