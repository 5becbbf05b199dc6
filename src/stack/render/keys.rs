//! Unknown values keys. helm ignores a key no template reads, silently; a misspelt or
//! outdated key (one the chart renamed) then changes nothing. Every key path our values set
//! must exist in the chart's values.yaml, or be read by one of its templates
//! (`.Values.<path>`), or sit under a map the chart takes whole (an empty map in values.yaml,
//! or one a template passes on with toYaml/range/with/tpl/include).

use crate::stack::charts::Chart;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// One key our values set that the chart does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKey {
    /// Dotted path, e.g. `webhook.livenesProbe`.
    pub key: String,
    /// 1-based line of the key in the values file (0 when not found).
    pub line: usize,
}

/// Template references of one chart: dotted `.Values` paths, and the ones passed whole.
#[derive(Debug, Default)]
struct Refs {
    read: BTreeSet<String>,
    whole: BTreeSet<String>,
}

const IDENT_CHARS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_";
/// Template functions that hand an object on as a whole.
const WHOLE_USERS: [&str; 9] = [
    "toYaml", "range", "with", "tpl", "include", "toJson", "merge", "dict", "default",
];

fn refs_of(chart: &Chart) -> Refs {
    let mut r = Refs::default();
    for text in chart.templates.values() {
        for line in text.lines() {
            let passes_whole = WHOLE_USERS.iter().any(|w| line.contains(w));
            let mut rest = line;
            while let Some(i) = rest.find(".Values") {
                let after = &rest[i + ".Values".len()..];
                // `.Values.a.b` — a dotted path.
                let mut path = Vec::new();
                let mut cur = after;
                while let Some(stripped) = cur.strip_prefix('.') {
                    let end = stripped
                        .find(|c: char| !IDENT_CHARS.contains(c))
                        .unwrap_or(stripped.len());
                    if end == 0 {
                        break;
                    }
                    path.push(&stripped[..end]);
                    cur = &stripped[end..];
                }
                // `index .Values "a" "b-c"` — quoted segments after the path.
                if rest[..i].trim_end().ends_with("index") {
                    let mut c = cur.trim_start();
                    while let Some(q) = c.strip_prefix('"') {
                        let Some(end) = q.find('"') else { break };
                        path.push(&q[..end]);
                        c = q[end + 1..].trim_start();
                    }
                }
                if !path.is_empty() {
                    let dotted = path.join(".");
                    if passes_whole {
                        r.whole.insert(dotted.clone());
                    }
                    r.read.insert(dotted);
                }
                rest = after;
            }
        }
    }
    r
}

/// Whether `chart` knows `path` (dotted segments, relative to the chart's values).
fn known(chart: &Chart, refs: &BTreeMap<String, Refs>, path: &[String]) -> bool {
    if path.first().map(String::as_str) == Some("global") {
        return true;
    }
    // A subchart's values live under its name.
    if let Some(sub) = path.first().and_then(|n| chart.subcharts.get(n))
        && path.len() > 1
        && known(sub, refs, &path[1..])
    {
        return true;
    }
    let r = &refs[&chart_key(chart)];
    let mut cur = &chart.values;
    for (i, key) in path.iter().enumerate() {
        let prefix = path[..=i].join(".");
        match cur {
            Value::Object(m) if m.is_empty() => return true,
            Value::Object(m) => match m.get(key) {
                Some(v) => cur = v,
                None => {
                    // Read by a template (the path itself or something below it)?
                    let below = format!("{prefix}.");
                    if r.read.iter().any(|p| *p == prefix || p.starts_with(&below)) {
                        return true;
                    }
                    // Under a map a template passes on whole?
                    return (0..i).any(|j| r.whole.contains(&path[..=j].join(".")));
                }
            },
            // null, a scalar or a list where we set a map: the template decides; accept.
            _ => return true,
        }
    }
    true
}

fn chart_key(c: &Chart) -> String {
    format!("{}@{}", c.name, c.version)
}

fn collect_refs(chart: &Chart, out: &mut BTreeMap<String, Refs>) {
    out.entry(chart_key(chart))
        .or_insert_with(|| refs_of(chart));
    for sub in chart.subcharts.values() {
        collect_refs(sub, out);
    }
}

/// Every leaf path (and map path) of a values document; lists are leaves (their items are
/// the chart's data, not its keys).
fn paths(v: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    if let Value::Object(m) = v {
        for (k, child) in m {
            prefix.push(k.clone());
            out.push(prefix.clone());
            paths(child, prefix, out);
            prefix.pop();
        }
    }
}

/// The unknown keys of `values` (parsed) against `chart`; `text` is the file, for lines.
/// A key is reported once, at its outermost unknown level.
pub fn unknown_keys(chart: &Chart, values: &Value, text: &str) -> Vec<UnknownKey> {
    let mut refs = BTreeMap::new();
    collect_refs(chart, &mut refs);
    let mut all = Vec::new();
    paths(values, &mut Vec::new(), &mut all);
    let lines = key_lines(text);
    let mut out: Vec<UnknownKey> = Vec::new();
    for p in all {
        let dotted = p.join(".");
        if out
            .iter()
            .any(|u| dotted.starts_with(&format!("{}.", u.key)))
        {
            continue;
        }
        if !known(chart, &refs, &p) {
            out.push(UnknownKey {
                line: lines.get(&dotted).copied().unwrap_or(0),
                key: dotted,
            });
        }
    }
    out
}

/// Dotted key path → 1-based line, for block-style YAML mappings (what values files are).
/// Keys inside list items and block scalars are not mapped.
pub fn key_lines(text: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut block_scalar_indent: Option<usize> = None;
    for (n, raw) in text.lines().enumerate() {
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("---") {
            continue;
        }
        let indent = raw.len() - trimmed.len();
        if let Some(bi) = block_scalar_indent {
            if indent > bi {
                continue;
            }
            block_scalar_indent = None;
        }
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        if trimmed.starts_with("- ") || trimmed == "-" {
            // A list item: its keys are data. Mark the level so nested keys stay unmapped.
            stack.push((indent, "\u{0}".into()));
            continue;
        }
        let Some((key, rest)) = split_key(trimmed) else {
            continue;
        };
        if stack.iter().any(|(_, k)| k == "\u{0}") {
            continue;
        }
        let mut path: Vec<&str> = stack.iter().map(|(_, k)| k.as_str()).collect();
        path.push(&key);
        out.entry(path.join(".")).or_insert(n + 1);
        let rest = rest.trim();
        if rest.starts_with('|') || rest.starts_with('>') {
            block_scalar_indent = Some(indent);
        }
        stack.push((indent, key));
    }
    out
}

/// `key: rest` → (key without quotes, rest).
fn split_key(line: &str) -> Option<(String, &str)> {
    let (key, rest) = if let Some(q) = line.strip_prefix('"') {
        let end = q.find('"')?;
        (q[..end].to_string(), q[end + 1..].strip_prefix(':')?)
    } else if let Some(q) = line.strip_prefix('\'') {
        let end = q.find('\'')?;
        (q[..end].to_string(), q[end + 1..].strip_prefix(':')?)
    } else {
        let i = line.find(':')?;
        let rest = &line[i + 1..];
        if !(rest.is_empty() || rest.starts_with(' ')) {
            return None;
        }
        (line[..i].trim().to_string(), rest)
    };
    Some((key, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(values: &str, templates: &[&str]) -> Chart {
        Chart {
            name: "c".into(),
            version: "1.0.0".into(),
            values: serde_saphyr::from_str(values).unwrap(),
            templates: templates
                .iter()
                .enumerate()
                .map(|(i, t)| (format!("templates/t{i}.yaml"), t.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    fn check(c: &Chart, ours: &str) -> Vec<(String, usize)> {
        let v: Value = serde_saphyr::from_str(ours).unwrap();
        unknown_keys(c, &v, ours)
            .into_iter()
            .map(|u| (u.key, u.line))
            .collect()
    }

    #[test]
    fn keys_in_values_yaml_are_known_and_a_typo_is_reported_with_its_line() {
        let c = chart("image:\n  tag: x\n  repository: r\nreplicas: 1\n", &[]);
        assert!(check(&c, "image:\n  tag: y\nreplicas: 3\n").is_empty());
        assert_eq!(
            check(&c, "image:\n  tag: y\n  tga: z\nreplicaz: 3\n"),
            [("image.tga".to_string(), 3), ("replicaz".to_string(), 4)]
        );
    }

    #[test]
    fn keys_read_by_templates_or_under_free_maps_are_known() {
        let c = chart(
            "annotations: {}\nresources: {}\nservice:\n  port: 80\n",
            &[
                "x: {{ .Values.listen | default \"0.0.0.0\" }}",
                "{{- with .Values.service.extra }}{{ toYaml . }}{{ end }}",
                "{{ index .Values \"node-exporter\" \"enabled\" }}",
            ],
        );
        let ours = "annotations:\n  a: b\nresources:\n  limits:\n    cpu: 1\nlisten: 1.2.3.4\nservice:\n  extra:\n    anything: 1\nnode-exporter:\n  enabled: false\n";
        assert_eq!(check(&c, ours), []);
    }

    #[test]
    fn an_unknown_map_is_reported_once_not_per_leaf() {
        let c = chart("a: 1\n", &[]);
        assert_eq!(check(&c, "b:\n  c: 1\n  d: 2\n"), [("b".to_string(), 1)]);
    }

    #[test]
    fn subchart_keys_are_checked_against_the_subchart() {
        let mut parent = chart("grafana:\n  enabled: true\n", &[]);
        parent.subcharts.insert(
            "grafana".into(),
            chart("admin:\n  existingSecret: \"\"\n", &[]),
        );
        assert!(check(&parent, "grafana:\n  admin:\n    existingSecret: s\n").is_empty());
        assert_eq!(
            check(&parent, "grafana:\n  admin:\n    existingSecrte: s\n"),
            [("grafana.admin.existingSecrte".to_string(), 3)]
        );
    }

    #[test]
    fn lines_skip_list_items_and_block_scalars() {
        let l =
            key_lines("a:\n  b: |\n    c: 1\n  d:\n    - e: 1\n      f: 2\n  g: 1\n\"h-i\": 2\n");
        assert_eq!(l["a.b"], 2);
        assert_eq!(l["a.d"], 4);
        assert_eq!(l["a.g"], 7);
        assert_eq!(l["h-i"], 8);
        assert!(!l.contains_key("a.b.c") && !l.contains_key("a.d.e"));
    }
}
