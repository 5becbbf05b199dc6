//! Reading YAML files of the repo: multi-document manifests with the line each document
//! starts on, and the offline checks of `deployctl validate` (errors name file and line).

use crate::stack::releases::Releases;
use serde_json::Value;
use std::fmt;
use std::path::{Path, PathBuf};

/// The ExternalSecret of OpenWebUI's OIDC client secret (applied only with single sign-on).
pub const OIDC_FILE: &str = "manifests/openwebui-oidc.yaml";

pub use crate::platform::kubeapi::document::Document;

/// A problem found in a file, at a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: PathBuf,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
    }
}

/// Split YAML text into documents at `---` / `...` marker lines: (first line, text).
/// Line numbers are kept by padding each chunk with the lines before it.
fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = Vec::new();
    let mut start = 1;
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let marker =
            line == "---" || line.starts_with("--- ") || line.starts_with("---\t") || line == "...";
        if marker {
            docs.push((start, std::mem::take(&mut current)));
            start = i + 2;
            // A `--- value` line carries content after the marker.
            if let Some(rest) = line.strip_prefix("--- ") {
                current.push_str(rest);
                current.push('\n');
                start = i + 1;
            }
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    docs.push((start, current));
    docs.retain(|(_, t)| {
        t.lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    });
    docs
}

fn yaml_error_line(err: &serde_saphyr::Error) -> usize {
    err.location()
        .map(|l| l.line() as usize)
        .unwrap_or(1)
        .max(1)
}

/// The manifests of `rel` with the run values (`${REGION}`, `${SECRETS_PREFIX}`) substituted
/// inside their strings: what the steps apply and what `render` checks offline.
pub fn fill(
    project_dir: &std::path::Path,
    rel: &str,
    region: &str,
    secrets_prefix: &str,
) -> anyhow::Result<Vec<Document>> {
    let mut vars = crate::platform::aws::policy::Vars::new();
    vars.insert("REGION", region.to_string());
    vars.insert("SECRETS_PREFIX", secrets_prefix.to_string());
    let path = project_dir.join(rel);
    let mut docs = load(&path)?;
    for d in &mut docs {
        d.value = crate::platform::aws::policy::substitute(&d.value, &vars)
            .map_err(|e| anyhow::anyhow!("{}:{}: {e}", d.path.display(), d.line))?;
    }
    Ok(docs)
}

/// Parse every document of `text` (read from `path`).
pub fn parse_documents(path: &Path, text: &str) -> Result<Vec<Document>, Problem> {
    let mut out = Vec::new();
    for (line, chunk) in split_documents(text) {
        let value: Value = serde_saphyr::from_str(&chunk).map_err(|e| Problem {
            path: path.to_path_buf(),
            line: line + yaml_error_line(&e) - 1,
            message: crate::yaml::error_message(&e),
        })?;
        if value.is_null() {
            continue;
        }
        out.push(Document {
            path: path.to_path_buf(),
            line,
            text: chunk,
            value,
        });
    }
    Ok(out)
}

/// Read and parse a manifest file.
pub fn load(path: &Path) -> anyhow::Result<Vec<Document>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("failed to read `{}`: {e}", path.display()))?;
    parse_documents(path, &text).map_err(|p| anyhow::anyhow!("{p}"))
}

/// Deserialize a document into a built-in k8s-openapi type, when its kind is one we know.
/// `None`: not a built-in kind (a CRD kind such as ExternalSecret).
fn check_builtin(doc: &Document) -> Option<Result<(), serde_saphyr::Error>> {
    use k8s_openapi::api::{apps, batch, core, policy, rbac};
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as crd;
    fn de<T: serde::de::DeserializeOwned>(text: &str) -> Result<(), serde_saphyr::Error> {
        serde_saphyr::from_str::<T>(text).map(|_| ())
    }
    let text = doc.text.as_str();
    Some(match (doc.api_version(), doc.kind()) {
        ("v1", "Namespace") => de::<core::v1::Namespace>(text),
        ("v1", "ConfigMap") => de::<core::v1::ConfigMap>(text),
        ("v1", "Secret") => de::<core::v1::Secret>(text),
        ("v1", "Service") => de::<core::v1::Service>(text),
        ("v1", "ServiceAccount") => de::<core::v1::ServiceAccount>(text),
        ("v1", "Pod") => de::<core::v1::Pod>(text),
        ("apps/v1", "Deployment") => de::<apps::v1::Deployment>(text),
        ("apps/v1", "StatefulSet") => de::<apps::v1::StatefulSet>(text),
        ("apps/v1", "DaemonSet") => de::<apps::v1::DaemonSet>(text),
        ("batch/v1", "Job") => de::<batch::v1::Job>(text),
        ("policy/v1", "PodDisruptionBudget") => de::<policy::v1::PodDisruptionBudget>(text),
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => de::<rbac::v1::ClusterRole>(text),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            de::<rbac::v1::ClusterRoleBinding>(text)
        }
        ("rbac.authorization.k8s.io/v1", "Role") => de::<rbac::v1::Role>(text),
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => de::<rbac::v1::RoleBinding>(text),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => {
            de::<crd::CustomResourceDefinition>(text)
        }
        _ => return None,
    })
}

/// The checks every manifest document must pass.
pub fn check_manifest(doc: &Document) -> Vec<Problem> {
    let problem = |line: usize, message: String| Problem {
        path: doc.path.clone(),
        line,
        message,
    };
    let mut problems = Vec::new();
    if !doc.value.is_object() {
        problems.push(problem(doc.line, "document is not a mapping".into()));
        return problems;
    }
    let label = match (doc.str_at("/kind"), doc.str_at("/metadata/name")) {
        (Some(k), Some(n)) => format!("{k} `{n}`"),
        (Some(k), None) => k.to_string(),
        _ => "document".into(),
    };
    for (pointer, field) in [
        ("/apiVersion", "apiVersion"),
        ("/kind", "kind"),
        ("/metadata/name", "metadata.name"),
    ] {
        if doc.str_at(pointer).is_none_or(str::is_empty) {
            problems.push(problem(doc.line, format!("{label} has no {field}")));
        }
    }
    if problems.is_empty()
        && let Some(Err(e)) = check_builtin(doc)
    {
        problems.push(problem(
            doc.line + yaml_error_line(&e) - 1,
            format!(
                "{label} is not a valid {}: {}",
                doc.kind(),
                crate::yaml::error_message(&e)
            ),
        ));
    }
    problems
}

/// The YAML files under `dir`; a directory (or entry) that cannot be read is a problem, never
/// silently skipped: `validate` must not say ok about files it never saw.
fn yaml_files(dir: &Path, unreadable: &mut Vec<(PathBuf, String)>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) => {
                unreadable.push((d.clone(), format!("cannot read the directory: {e}")));
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    unreadable.push((d.clone(), format!("cannot list the directory: {e}")));
                    continue;
                }
            };
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// What `validate` found: the files checked and the problems.
#[derive(Debug, Default)]
pub struct Report {
    pub files: usize,
    pub documents: usize,
    pub problems: Vec<Problem>,
}

/// Validate manifests/ and helm-values/ under `root`. Paths in problems are relative to root.
pub fn validate_tree(root: &Path) -> Report {
    let mut report = Report::default();
    let rel = |p: &Path| p.strip_prefix(root).unwrap_or(p).to_path_buf();
    let read = |p: &Path, report: &mut Report| match std::fs::read_to_string(p) {
        Ok(t) => Some(t),
        Err(e) => {
            report.problems.push(Problem {
                path: rel(p),
                line: 1,
                message: format!("cannot read: {e}"),
            });
            None
        }
    };

    let mut unreadable = Vec::new();
    let manifests = yaml_files(&root.join("manifests"), &mut unreadable);
    let values = yaml_files(&root.join("helm-values"), &mut unreadable);
    for (dir, message) in unreadable {
        report.problems.push(Problem {
            path: rel(&dir),
            line: 1,
            message,
        });
    }
    let mut seen: Vec<(String, String, String, PathBuf, usize)> = Vec::new();
    for path in manifests {
        report.files += 1;
        let Some(text) = read(&path, &mut report) else {
            continue;
        };
        match parse_documents(&rel(&path), &text) {
            Err(p) => report.problems.push(p),
            Ok(docs) => {
                if docs.is_empty() {
                    report.problems.push(Problem {
                        path: rel(&path),
                        line: 1,
                        message: "file holds no document".into(),
                    });
                }
                for doc in docs {
                    report.documents += 1;
                    let problems = check_manifest(&doc);
                    if problems.is_empty() {
                        let key = (
                            doc.kind().to_string(),
                            doc.namespace().unwrap_or_default().to_string(),
                            doc.name().to_string(),
                        );
                        if let Some(first) = seen.iter().find(|s| {
                            (s.0.as_str(), s.1.as_str(), s.2.as_str()) == (&key.0, &key.1, &key.2)
                        }) {
                            report.problems.push(Problem {
                                path: doc.path.clone(),
                                line: doc.line,
                                message: format!(
                                    "{} `{}` is also defined at {}:{}",
                                    key.0,
                                    key.2,
                                    first.3.display(),
                                    first.4
                                ),
                            });
                        } else {
                            seen.push((key.0, key.1, key.2, doc.path.clone(), doc.line));
                        }
                    }
                    report.problems.extend(problems);
                }
            }
        }
    }

    for path in values {
        report.files += 1;
        let Some(text) = read(&path, &mut report) else {
            continue;
        };
        let relp = rel(&path);
        if path.file_name().is_some_and(|n| n == "releases.yaml") {
            match Releases::parse(&text) {
                Err(e) => report.problems.push(Problem {
                    path: relp,
                    line: yaml_error_line(&e),
                    message: crate::yaml::error_message(&e),
                }),

                Ok(r) => {
                    report.documents += 1;
                    for rel in &r.releases {
                        if !root.join("helm-values").join(&rel.values).is_file() {
                            report.problems.push(Problem {
                                path: relp.clone(),
                                line: 1,
                                message: format!(
                                    "release `{}` names values file `{}`, which does not exist",
                                    rel.name, rel.values
                                ),
                            });
                        }
                    }
                }
            }
            continue;
        }
        match parse_documents(&relp, &text) {
            Err(p) => report.problems.push(p),
            Ok(docs) => {
                for doc in docs {
                    report.documents += 1;
                    if !doc.value.is_object() {
                        report.problems.push(Problem {
                            path: relp.clone(),
                            line: doc.line,
                            message: "helm values must be a mapping".into(),
                        });
                    }
                }
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(text: &str) -> Vec<Document> {
        parse_documents(Path::new("m.yaml"), text).unwrap()
    }

    #[test]
    fn documents_know_their_first_line() {
        let d = docs("# c\napiVersion: v1\nkind: A\n---\n\n---\napiVersion: v1\nkind: B\n");
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].line, d[0].kind()), (1, "A"));
        assert_eq!((d[1].line, d[1].kind()), (7, "B"));
    }

    #[test]
    fn syntax_errors_point_at_the_line() {
        let err = parse_documents(
            Path::new("m.yaml"),
            "apiVersion: v1\nkind: A\n---\napiVersion: v1\nkind: [unclosed\n",
        )
        .unwrap_err();
        assert_eq!(err.path, Path::new("m.yaml"));
        assert!(err.line >= 5, "{err}");
        // No second, document-relative "line N" in the message.
        assert!(!err.message.contains("line "), "{err}");
    }

    #[test]
    fn an_unreadable_directory_is_a_problem_not_a_pass() {
        // `manifests` that cannot be listed (here: not a directory, which fails for root too,
        // like a 000 directory fails for anyone else): never "ok".
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("helm-values")).unwrap();
        std::fs::write(root.path().join("manifests"), "not a directory").unwrap();
        let report = validate_tree(root.path());
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.path == Path::new("manifests")
                    && p.message.contains("cannot read the directory")),
            "{:?}",
            report.problems
        );
        // A missing directory is reported too.
        std::fs::remove_file(root.path().join("manifests")).unwrap();
        let report = validate_tree(root.path());
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.path == Path::new("manifests")),
            "{:?}",
            report.problems
        );
    }

    #[test]
    fn a_manifest_without_a_name_is_reported_at_its_document() {
        let d = docs(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  labels: {}\n",
        );
        assert!(check_manifest(&d[0]).is_empty());
        let p = check_manifest(&d[1]);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].line, 6);
        assert!(p[0].message.contains("metadata.name"), "{}", p[0]);
    }

    #[test]
    fn builtin_kinds_must_deserialize() {
        let d = docs(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replicas: many\n",
        );
        let p = check_manifest(&d[0]);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].line, 6, "{}", p[0]);
        // Unknown (CRD) kinds only need the common fields.
        let d = docs(
            "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: x\nspec:\n  anything: 1\n",
        );
        assert!(check_manifest(&d[0]).is_empty());
    }

    #[test]
    fn the_repository_tree_validates() {
        let report = validate_tree(Path::new(env!("CARGO_MANIFEST_DIR")));
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert!(report.files >= 2);
    }
}
