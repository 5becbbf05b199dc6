//! `helm-repos`: the repositories of helm-values/releases.yaml, added or corrected, then
//! `helm repo update`.

use super::{Findings, Step};
use crate::context::Context;
use crate::decide::{Action, State};
use crate::graph::StepId;
use crate::platform::tools::helm::RepoEntry;
use crate::stack::releases::{Releases, Repo};
use anyhow::Result;
use async_trait::async_trait;

pub struct HelmRepos;

#[derive(Debug, Default, PartialEq)]
struct Diff<'a> {
    missing: Vec<&'a Repo>,
    wrong_url: Vec<(&'a Repo, String)>,
}

fn diff<'a>(want: &'a [Repo], have: &[RepoEntry]) -> Diff<'a> {
    let mut d = Diff::default();
    for repo in want {
        match have.iter().find(|h| h.name == repo.name) {
            None => d.missing.push(repo),
            Some(h) if h.url.trim_end_matches('/') != repo.url.trim_end_matches('/') => {
                d.wrong_url.push((repo, h.url.clone()))
            }
            Some(_) => {}
        }
    }
    d
}

#[async_trait]
impl Step for HelmRepos {
    fn id(&self) -> StepId {
        StepId::HelmRepos
    }
    fn exists(&self) -> &'static str {
        "exist"
    }
    fn resource(&self, _cx: &Context) -> String {
        "helm repositories".into()
    }
    fn proceed_does(&self, state: &State) -> &'static str {
        match state {
            State::Unhealthy(_) => "add the missing ones and fix wrong URLs",
            _ => "refresh them (helm repo update)",
        }
    }

    async fn assess(&self, cx: &Context) -> Result<State> {
        let want = Releases::load(&cx.settings.project_dir)?.repos;
        let have = cx.helm.repo_list().await?;
        let d = diff(&want, &have);
        Ok(if d.missing.len() == want.len() {
            State::Missing
        } else if d.missing.is_empty() && d.wrong_url.is_empty() {
            State::Healthy(format!("{} of {} configured", want.len(), want.len()))
        } else {
            let mut why = Vec::new();
            if !d.missing.is_empty() {
                why.push(format!(
                    "missing {}",
                    d.missing
                        .iter()
                        .map(|r| r.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            for (repo, url) in &d.wrong_url {
                why.push(format!("{} points at {url}, not {}", repo.name, repo.url));
            }
            State::Unhealthy(why.join("; "))
        })
    }

    async fn apply(&self, cx: &Context, _action: Action, _found: Findings) -> Result<String> {
        let want = Releases::load(&cx.settings.project_dir)?.repos;
        let have = cx.helm.repo_list().await?;
        let d = diff(&want, &have);
        for repo in &d.missing {
            cx.helm.repo_add(&repo.name, &repo.url, false).await?;
        }
        for (repo, _) in &d.wrong_url {
            cx.helm.repo_add(&repo.name, &repo.url, true).await?;
        }
        let names: Vec<&str> = want.iter().map(|r| r.name.as_str()).collect();
        cx.helm.repo_update(&names).await?;
        Ok(format!(
            "{} added, {} corrected, {} updated",
            d.missing.len(),
            d.wrong_url.len(),
            names.len()
        ))
    }

    async fn view(&self, cx: &Context) -> Result<String> {
        let want = Releases::load(&cx.settings.project_dir)?.repos;
        let have = cx.helm.repo_list().await?;
        let lines: Vec<String> = want
            .iter()
            .map(|r| {
                let state = match have.iter().find(|h| h.name == r.name) {
                    None => "missing".to_string(),
                    Some(h) if h.url.trim_end_matches('/') == r.url.trim_end_matches('/') => {
                        "ok".into()
                    }
                    Some(h) => format!("points at {}", h.url),
                };
                format!("  {:<22} {:<58} {state}", r.name, r.url)
            })
            .collect();
        Ok(lines.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_finds_missing_and_wrong_urls() {
        let want = vec![
            Repo {
                name: "a".into(),
                url: "https://a".into(),
            },
            Repo {
                name: "b".into(),
                url: "https://b/".into(),
            },
            Repo {
                name: "c".into(),
                url: "https://c".into(),
            },
        ];
        let have = vec![
            RepoEntry {
                name: "b".into(),
                url: "https://b".into(),
            },
            RepoEntry {
                name: "c".into(),
                url: "https://elsewhere".into(),
            },
            RepoEntry {
                name: "other".into(),
                url: "https://o".into(),
            },
        ];
        let d = diff(&want, &have);
        assert_eq!(d.missing, vec![&want[0]]);
        assert_eq!(
            d.wrong_url,
            vec![(&want[2], "https://elsewhere".to_string())]
        );
    }
}
