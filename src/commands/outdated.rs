//! `deployctl outdated`: which pins have aged, read-only, in one table (like `cargo outdated`):
//! each release's pinned chart against the newest its repository or OCI registry offers (helm
//! reads the source: `helm show chart`), the cluster's Kubernetes version against EKS's own
//! calendar (DescribeClusterVersions) — and that calendar against `terraform/eks-versions.json`
//! —, each EKS add-on against its default version for the cluster's Kubernetes version
//! (DescribeAddonVersions), and each configured Bedrock model's lifecycle and inference
//! profile. What cannot be read is a row that says so. Exit 0 when nothing is behind, 1 when
//! something is, 2 on a usage error.

use crate::context::Context;
use crate::error::UserError;
use anyhow::Result;
use std::cmp::Ordering;
use std::sync::Arc;

/// One line of the table.
#[derive(Debug, Clone, Default)]
struct Line {
    what: &'static str,
    name: String,
    current: String,
    latest: String,
    note: String,
    behind: bool,
    /// Could not be read (the note says why).
    unread: bool,
    /// A release: the chart version in helm's record on the cluster (`None`: not read;
    /// `Some("")`: not installed).
    installed: Option<String>,
    /// A release: the GitOps engine's verdict when it has not reconciled it.
    engine: Option<String>,
}

impl Line {
    fn unread(what: &'static str, name: &str, current: &str, why: String) -> Line {
        Line {
            what,
            name: name.to_string(),
            current: current.to_string(),
            latest: "?".into(),
            note: format!("could not read: {why}"),
            behind: false,
            unread: true,
            ..Default::default()
        }
    }
}

/// `1.2.3` against `1.10.0`, numerically part by part (a leading `v` and a pre-release
/// suffix ignored).
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let parts = |v: &str| -> Vec<u64> {
        v.trim()
            .trim_start_matches('v')
            .split(['-', '+'])
            .next()
            .unwrap_or("")
            .split('.')
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    let (a, b) = (parts(a), parts(b));
    for i in 0..a.len().max(b.len()) {
        let o = a.get(i).unwrap_or(&0).cmp(b.get(i).unwrap_or(&0));
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

pub async fn run(inv: super::Invocation) -> Result<crate::error::ExitCode> {
    let (cx, _prompter) = inv.context();
    let cx = Arc::new(cx);
    let done = outdated(&cx).await;
    cx.close().await;
    done
}

async fn release_rows(cx: &Context) -> Result<Vec<Line>> {
    let all = crate::stack::releases::Releases::load(&cx.settings.project_dir)?;
    let looked = futures::future::join_all(all.releases.iter().map(|rel| {
        let url = rel
            .repo
            .as_ref()
            .and_then(|r| all.repos.iter().find(|x| &x.name == r))
            .map(|r| r.url.clone());
        async move {
            let newest = cx.helm.newest_chart(&rel.chart, url.as_deref()).await;
            (rel, url, newest)
        }
    }))
    .await;
    let mut rows = Vec::new();
    for (rel, url, newest) in looked {
        let source = url.unwrap_or_else(|| rel.chart.clone());
        match newest {
            Ok((version, app)) => {
                let behind = compare_versions(&rel.version, &version) == Ordering::Less;
                rows.push(Line {
                    what: "release",
                    name: rel.name.clone(),
                    current: rel.version.clone(),
                    latest: version.clone(),
                    note: if behind {
                        format!("{version} (app {app}) in {source}")
                    } else {
                        format!("newest in {source} (app {app})")
                    },
                    behind,
                    unread: false,
                    ..Default::default()
                });
            }
            Err(e) => rows.push(Line::unread(
                "release",
                &rel.name,
                &rel.version,
                format!("{source}: {}", first_line(&format!("{e:#}"))),
            )),
        }
    }
    Ok(rows)
}

/// What the cluster runs against the pins, when it can be reached (read-only, bounded):
/// helm's record of each release and, when a GitOps engine manages the stack, the engine's
/// verdict and the version it applied. A release not at its pin, or one the engine failed to
/// reconcile, is behind, with the engine's own message. An unreachable cluster is said once
/// and changes no row: the pins are still compared with their sources.
async fn live_releases(cx: &Context, rows: &mut [Line]) {
    const BOUND: std::time::Duration = std::time::Duration::from_secs(30);
    let connected = tokio::time::timeout(BOUND, crate::cluster::connect_kube(cx)).await;
    let target = match connected {
        Ok(Ok((client, target))) => {
            cx.set_kube(client);
            cx.set_kube_context(target.context.clone());
            target
        }
        Ok(Err(e)) => {
            cx.ui.warn(&format!(
                "the cluster was not read ({}): what it runs is not compared with the pins",
                first_line(&format!("{e:#}"))
            ));
            return;
        }
        Err(_) => {
            cx.ui.warn(&format!(
                "the cluster gave no answer within {}s: what it runs is not compared with the pins",
                BOUND.as_secs()
            ));
            return;
        }
    };
    let Ok(all) = crate::stack::releases::Releases::load(&cx.settings.project_dir) else {
        return;
    };
    let context = Some(target.context.as_str());
    let records = futures::future::join_all(
        all.releases
            .iter()
            .map(|r| cx.helm.status(&r.name, &r.namespace, context)),
    );
    let (records, engine) = futures::future::join(
        records,
        tokio::time::timeout(BOUND, crate::steps::verify::gitops_status(cx)),
    )
    .await;
    for (rel, record) in all.releases.iter().zip(records) {
        let Some(row) = rows
            .iter_mut()
            .find(|r| r.what == "release" && r.name == rel.name)
        else {
            continue;
        };
        match record {
            Ok(None) => {
                row.installed = Some(String::new());
                row.note = format!("not installed; {}", row.note);
            }
            Ok(Some(st)) => {
                let mut said = Vec::new();
                if st.chart_version != rel.version {
                    row.behind = true;
                    let step = crate::stack::releases::RELEASES
                        .iter()
                        .find(|d| d.release == rel.name)
                        .map_or(rel.name.as_str(), |d| d.step.name());
                    said.push(format!(
                        "the cluster runs {} (`deployctl diff {step}`, then `deployctl {step}` installs the pin)",
                        st.chart_version
                    ));
                }
                if st.status != "deployed" {
                    row.behind = true;
                    said.push(format!("helm: {} ({})", st.status, st.description.trim()));
                }
                row.installed = Some(st.chart_version);
                if !said.is_empty() {
                    row.note = format!("{}; {}", said.join("; "), row.note);
                }
            }
            Err(e) => {
                row.note = format!(
                    "helm's record unreadable: {}; {}",
                    first_line(&format!("{e:#}")),
                    row.note
                );
            }
        }
    }
    let status = match engine {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => {
            cx.ui.warn(&format!(
                "the GitOps engine's status was not read: {}",
                first_line(&format!("{e:#}"))
            ));
            return;
        }
        Err(_) => {
            cx.ui
                .warn("the GitOps engine's status gave no answer within 30s");
            return;
        }
    };
    for n in &status.notes {
        cx.ui.warn(n);
    }
    for o in &status.objects {
        let Some(row) = o.release.as_ref().and_then(|name| {
            rows.iter_mut()
                .find(|r| r.what == "release" && &r.name == name)
        }) else {
            continue;
        };
        if let Some(problem) = &o.problem {
            row.behind = true;
            row.engine = Some(format!("{} {problem}", o.label));
            row.note = format!("{} {problem}; {}", o.label, row.note);
        } else if let Some(v) = o.applied.as_ref().filter(|v| **v != row.current) {
            row.behind = true;
            row.note = format!("{} applied {v}, not the pin; {}", o.label, row.note);
        }
    }
}

fn first_line(s: &str) -> String {
    let line = s
        .lines()
        .find(|l| l.contains("Error") || l.contains("error"))
        .unwrap_or_else(|| s.lines().next().unwrap_or(""));
    let line = line.trim().trim_start_matches("Error: ");
    line.chars().take(200).collect()
}

/// The cluster's version against EKS's calendar, that calendar against the file, the add-ons.
async fn cluster_rows(cx: &Context) -> Vec<Line> {
    let aws = cx.aws().await;
    let name = cx.settings.cluster.clone();
    let cluster = match crate::platform::aws::describe_cluster(aws, &name).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return vec![Line::unread(
                "kubernetes",
                &name,
                "?",
                format!("EKS has no cluster {name} in {}", cx.settings.region),
            )];
        }
        Err(e) => {
            return vec![Line::unread(
                "kubernetes",
                &name,
                "?",
                first_line(&format!("{e:#}")),
            )];
        }
    };
    let mut rows = Vec::new();
    let (calendar, addons) = futures::future::join(
        crate::platform::aws::eks::cluster_versions(aws),
        crate::platform::aws::eks::addons(aws, &name, &cluster.version),
    )
    .await;
    match calendar {
        Ok(versions) => rows.extend(version_rows(&name, &cluster.version, &versions)),
        Err(e) => {
            // The file stands in for the API, and says so.
            let today = crate::stack::eks_versions::today();
            let newest = crate::stack::eks_versions::in_standard_support(today)
                .pop()
                .unwrap_or_default();
            rows.push(Line {
                what: "kubernetes",
                name: name.clone(),
                current: cluster.version.clone(),
                latest: newest.clone(),
                note: format!(
                    "{} (from terraform/eks-versions.json: EKS's calendar could not be read: {})",
                    crate::stack::eks_versions::describe(&cluster.version, today),
                    first_line(&format!("{e:#}"))
                ),
                behind: compare_versions(&cluster.version, &newest) == Ordering::Less,
                unread: false,
                ..Default::default()
            });
        }
    }
    match addons {
        Ok(list) => {
            for a in list {
                let behind = a
                    .default_version
                    .as_ref()
                    .is_some_and(|d| compare_versions(&a.installed, d) == Ordering::Less);
                rows.push(Line {
                    what: "add-on",
                    name: a.name.clone(),
                    current: a.installed.clone(),
                    latest: a.default_version.clone().unwrap_or_else(|| "?".into()),
                    note: match &a.default_version {
                        Some(_) => format!("EKS's default for Kubernetes {}", cluster.version),
                        None => format!("no default for Kubernetes {}", cluster.version),
                    },
                    behind,
                    unread: false,
                    ..Default::default()
                });
            }
        }
        Err(e) => rows.push(Line::unread(
            "add-on",
            "(all)",
            "?",
            first_line(&format!("{e:#}")),
        )),
    }
    rows
}

/// The cluster's row from EKS's calendar, and a row for each version where the calendar and
/// `terraform/eks-versions.json` disagree (or the file lacks a version EKS supports).
fn version_rows(
    cluster: &str,
    current: &str,
    versions: &[crate::platform::aws::eks::VersionInfo],
) -> Vec<Line> {
    let mut rows = Vec::new();
    let newest_standard = versions
        .iter()
        .filter(|v| v.status == "STANDARD_SUPPORT")
        .max_by_key(|v| crate::stack::eks_versions::minor_of(&v.version))
        .map(|v| v.version.clone())
        .unwrap_or_default();
    let mine = versions.iter().find(|v| v.version == current);
    let dates = |v: &crate::platform::aws::eks::VersionInfo| {
        let (standard, extended) = ends(v);
        format!("standard support until {standard}, extended until {extended}")
    };
    rows.push(Line {
        what: "kubernetes",
        name: cluster.to_string(),
        current: current.to_string(),
        latest: newest_standard.clone(),
        note: match mine {
            Some(v) => format!("{} ({}; EKS)", v.status, dates(v)),
            None => "EKS does not list this version".into(),
        },
        behind: mine.is_none_or(|v| v.status != "STANDARD_SUPPORT")
            || compare_versions(current, &newest_standard) == Ordering::Less,
        unread: false,
        ..Default::default()
    });
    for v in versions {
        let file = crate::stack::eks_versions::dates(&v.version);
        if file.is_none() && v.status == "UNSUPPORTED" {
            continue;
        }
        let disagrees = match file {
            None => true,
            Some((standard, extended)) => {
                Some(standard) != v.end_of_standard || Some(extended) != v.end_of_extended
            }
        };
        if disagrees {
            rows.push(Line {
                what: "calendar",
                name: format!("Kubernetes {}", v.version),
                current: match file {
                    Some((s, e)) => format!("{s} / {e}"),
                    None => "(missing)".into(),
                },
                latest: {
                    let (standard, extended) = ends(v);
                    format!("{standard} / {extended}")
                },
                note: "terraform/eks-versions.json disagrees with EKS (ends of standard / extended support): update the file".into(),
                behind: true,
                unread: false,
                ..Default::default()
            });
        }
    }
    rows
}

/// A version's ends of standard and extended support as EKS gives them ("?" when it does not).
fn ends(v: &crate::platform::aws::eks::VersionInfo) -> (String, String) {
    let show = |d: Option<jiff::civil::Date>| d.map_or_else(|| "?".to_string(), |d| d.to_string());
    (show(v.end_of_standard), show(v.end_of_extended))
}

async fn model_rows(cx: &Context) -> Result<Vec<Line>> {
    let models = crate::stack::bedrock::load(&cx.settings.project_dir)?;
    let aws = cx.aws().await;
    let region = cx.settings.region.clone();
    let looked = futures::future::join_all(models.iter().map(|m| async move {
        let found = crate::platform::aws::bedrock::foundation_model(aws, &m.base).await;
        let profile = match &m.geography {
            Some(_) => Some(crate::platform::aws::bedrock::inference_profile(aws, &m.id).await),
            None => None,
        };
        (m, found, profile)
    }))
    .await;
    let mut rows = Vec::new();
    for (m, found, profile) in looked {
        let found = match found {
            Ok(f) => f,
            Err(e) => {
                rows.push(Line::unread(
                    "model",
                    &m.id,
                    "?",
                    first_line(&format!("{e:#}")),
                ));
                continue;
            }
        };
        let profile_note = match &profile {
            None => String::new(),
            Some(Ok(Some(_))) => format!("; profile {} exists in {region}", m.id),
            Some(Ok(None)) => format!("; no inference profile {} in {region}", m.id),
            Some(Err(e)) => format!("; profile not readable: {}", first_line(&format!("{e:#}"))),
        };
        let profile_missing = matches!(profile, Some(Ok(None)));
        let (current, behind, note) = match &found {
            None => (
                "not offered".to_string(),
                true,
                format!("{} is not offered in {region}", m.base),
            ),
            Some(o) => (
                o.lifecycle.clone(),
                o.lifecycle != "ACTIVE" || profile_missing,
                format!("{}{profile_note}", m.base),
            ),
        };
        rows.push(Line {
            what: "model",
            name: m.id.clone(),
            current,
            latest: "ACTIVE".into(),
            note,
            behind,
            unread: false,
            ..Default::default()
        });
    }
    Ok(rows)
}

async fn outdated(cx: &Context) -> Result<crate::error::ExitCode> {
    cx.helm.check_installed().await?;
    let (releases, cluster, models) =
        futures::future::join3(release_rows(cx), cluster_rows(cx), model_rows(cx)).await;
    let mut rows = releases?;
    live_releases(cx, &mut rows).await;
    rows.extend(cluster);
    rows.extend(models?);
    if cx.ui.json() {
        for r in &rows {
            cx.ui.emit(&crate::events::Event::Outdated {
                what: r.what.to_string(),
                name: r.name.clone(),
                current: r.current.clone(),
                latest: r.latest.clone(),
                behind: r.behind,
                unread: r.unread,
                note: r.note.clone(),
                installed: r.installed.clone(),
                engine: r.engine.clone(),
            });
        }
    } else {
        for line in table(&rows) {
            cx.ui.println(&line);
        }
    }
    let behind = rows.iter().filter(|r| r.behind).count();
    let unread = rows.iter().filter(|r| r.unread).count();
    if unread > 0 {
        cx.ui.warn(&format!(
            "{unread} row(s) could not be read (named above): their currency is unknown"
        ));
    }
    if behind > 0 {
        return Err(UserError::failed(
            format!(
                "{behind} of {} pins and facts are behind their sources",
                rows.len()
            ),
            "see README \"Keeping current\": `deployctl charts pull`, `deployctl validate --charts-dir DIR` and `deployctl diff` before a bump",
        )
        .into());
    }
    cx.ui.println("Everything is current.");
    Ok(crate::error::exit::OK)
}

fn table(rows: &[Line]) -> Vec<String> {
    let header = ["what", "name", "current", "latest", "note"];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            [
                format!("{}{}", r.what, if r.behind { " !" } else { "" }),
                r.name.clone(),
                r.current.clone(),
                r.latest.clone(),
                r.note.clone(),
            ]
        })
        .collect();
    let mut width = header.map(str::len);
    for c in &cells {
        for (i, v) in c.iter().enumerate().take(4) {
            width[i] = width[i].max(v.chars().count());
        }
    }
    let line = |c: [&str; 5]| {
        let mut s = String::new();
        for (i, v) in c.iter().enumerate() {
            if i < 4 {
                s.push_str(&format!("{v:<w$}  ", w = width[i]));
            } else {
                s.push_str(v);
            }
        }
        s.trim_end().to_string()
    };
    let mut out = vec![line(header)];
    for c in &cells {
        out.push(line([&c[0], &c[1], &c[2], &c[3], &c[4]]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_by_number() {
        assert_eq!(compare_versions("1.98.0", "1.110.2"), Ordering::Less);
        assert_eq!(compare_versions("v2.10.0", "2.9.0"), Ordering::Greater);
        assert_eq!(compare_versions("4.11.1", "4.11.1"), Ordering::Equal);
        assert_eq!(compare_versions("1.35", "1.35.0"), Ordering::Equal);
        assert_eq!(compare_versions("3.5.0-rc.1", "3.5.0"), Ordering::Equal);
    }

    #[test]
    fn the_calendar_and_the_file_never_disagree_silently() {
        let d = |s: &str| Some(s.parse::<jiff::civil::Date>().unwrap());
        let v = |version: &str, status: &str, s: &str, e: &str| {
            crate::platform::aws::eks::VersionInfo {
                version: version.into(),
                status: status.into(),
                end_of_standard: d(s),
                end_of_extended: d(e),
            }
        };
        let versions = [
            v("1.34", "EXTENDED_SUPPORT", "2026-12-02", "2027-12-02"),
            v("1.35", "STANDARD_SUPPORT", "2027-03-27", "2028-03-27"),
            v("1.36", "STANDARD_SUPPORT", "2027-08-02", "2028-08-02"),
            v("1.37", "STANDARD_SUPPORT", "2027-12-01", "2028-12-01"),
        ];
        let rows = version_rows("c", "1.34", &versions);
        assert!(rows[0].behind && rows[0].latest == "1.37", "{rows:?}");
        assert!(rows[0].note.starts_with("EXTENDED_SUPPORT"), "{rows:?}");
        // 1.37 is not in the file: said; 1.34 to 1.36 agree with it: not listed.
        let calendar: Vec<&Line> = rows.iter().filter(|r| r.what == "calendar").collect();
        assert_eq!(calendar.len(), 1, "{rows:?}");
        assert_eq!(calendar[0].name, "Kubernetes 1.37");
        assert_eq!(calendar[0].current, "(missing)");
        // A date EKS moved is a disagreement.
        let moved = [v("1.35", "STANDARD_SUPPORT", "2027-04-30", "2028-03-27")];
        let rows = version_rows("c", "1.35", &moved);
        assert!(
            rows.iter()
                .any(|r| r.what == "calendar" && r.current == "2027-03-27 / 2028-03-27")
        );
    }
}
