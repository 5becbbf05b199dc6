//! The EKS support calendar (`terraform/eks-versions.json`, one table that Terraform reads
//! too): which Kubernetes minor versions a cluster can be created with today, which cost
//! extended-support fees, and which are past all support.

use jiff::civil::Date;
use serde::Deserialize;
use std::collections::BTreeMap;

const TABLE: &str = include_str!("../../terraform/eks-versions.json");

#[derive(Debug, Deserialize)]
struct Table {
    source: String,
    versions: BTreeMap<String, Dates>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
struct Dates {
    standard_end: Date,
    extended_end: Date,
}

/// Where a version stands on a given day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Support {
    /// In standard support until the date.
    Standard { until: Date },
    /// Standard support ended; extended support (billed per cluster hour) until the date.
    Extended { standard_ended: Date, until: Date },
    /// Past extended support: EKS creates no cluster of it and upgrades existing ones.
    Ended { on: Date },
    /// Newer than every row of the table: not checked.
    Newer { newest_known: String },
    /// Older than every row, or not a `1.N` version.
    Unknown,
}

fn table() -> Table {
    serde_json::from_str(TABLE).expect("terraform/eks-versions.json is valid (unit-tested)")
}

/// The minor number of "1.35" (35).
pub fn minor_of(version: &str) -> Option<u32> {
    minor(version)
}

fn minor(version: &str) -> Option<u32> {
    let rest = version.trim().strip_prefix("1.")?;
    rest.parse().ok()
}

/// The support status of `version` ("1.35") on `today`.
pub fn support(version: &str, today: Date) -> Support {
    let t = table();
    if let Some(d) = t.versions.get(version.trim()) {
        return if today < d.standard_end {
            Support::Standard {
                until: d.standard_end,
            }
        } else if today < d.extended_end {
            Support::Extended {
                standard_ended: d.standard_end,
                until: d.extended_end,
            }
        } else {
            Support::Ended { on: d.extended_end }
        };
    }
    let newest = t.versions.keys().filter_map(|k| minor(k)).max();
    match (minor(version), newest) {
        (Some(m), Some(n)) if m > n => Support::Newer {
            newest_known: format!("1.{n}"),
        },
        _ => Support::Unknown,
    }
}

/// Where the dates come from (named in messages).
pub fn source() -> String {
    table().source
}

/// Today, or `DEPLOYCTL_TODAY` (YYYY-MM-DD) to check a version against a future day.
pub fn today() -> Date {
    std::env::var("DEPLOYCTL_TODAY")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| jiff::Zoned::now().date())
}

/// One line for reports: "1.35 — standard support until 2027-03-27".
pub fn describe(version: &str, today: Date) -> String {
    describe_support(version, &support(version, today))
}

/// `version` and where it stands, in one phrase.
pub fn describe_support(version: &str, support: &Support) -> String {
    match support {
        Support::Standard { until } => format!("{version} — standard support until {until}"),
        Support::Extended {
            standard_ended,
            until,
        } => format!(
            "{version} — EXTENDED support (billed extra) since {standard_ended}, ends {until}; upgrade"
        ),
        Support::Ended { on } => {
            format!("{version} — support ENDED on {on}; EKS upgrades such clusters automatically")
        }
        Support::Newer { newest_known } => format!(
            "{version} — newer than deployctl's support table (which ends at {newest_known})"
        ),
        Support::Unknown => format!("{version} — not in deployctl's support table"),
    }
}

pub use crate::platform::aws::eks::VersionInfo;

/// Where `version` stands on `today` by EKS's own calendar (`live`).
pub fn support_live(version: &str, today: Date, live: &[VersionInfo]) -> Support {
    let Some(v) = live.iter().find(|v| v.version == version.trim()) else {
        let newest = live.iter().filter_map(|v| minor(&v.version)).max();
        return match (minor(version), newest) {
            (Some(m), Some(n)) if m > n => Support::Newer {
                newest_known: format!("1.{n}"),
            },
            _ => Support::Unknown,
        };
    };
    let ended = v.status == "UNSUPPORTED" || v.end_of_extended.is_some_and(|e| today >= e);
    let extended = v.status == "EXTENDED_SUPPORT" || v.end_of_standard.is_some_and(|s| today >= s);
    let day = |d: Option<Date>| d.unwrap_or(today);
    if ended {
        Support::Ended {
            on: day(v.end_of_extended),
        }
    } else if extended {
        Support::Extended {
            standard_ended: day(v.end_of_standard),
            until: day(v.end_of_extended),
        }
    } else {
        Support::Standard {
            until: day(v.end_of_standard),
        }
    }
}

/// The versions in standard support by EKS's calendar, oldest first.
pub fn in_standard_support_live(live: &[VersionInfo]) -> Vec<String> {
    let mut v: Vec<(u32, String)> = live
        .iter()
        .filter(|v| v.status == "STANDARD_SUPPORT")
        .filter_map(|v| minor(&v.version).map(|m| (m, v.version.clone())))
        .collect();
    v.sort();
    v.into_iter().map(|(_, k)| k).collect()
}

/// Where the file and EKS's calendar disagree (a version EKS supports that the file lacks,
/// or other end dates): one sentence each, the file's value first.
pub fn disagreements(live: &[VersionInfo]) -> Vec<String> {
    let show = |d: Option<Date>| d.map_or_else(|| "?".to_string(), |d| d.to_string());
    let mut out = Vec::new();
    for v in live {
        match dates(&v.version) {
            // A version past all support that the file never listed: nothing to say.
            None if v.status == "UNSUPPORTED" => {}
            None => out.push(format!(
                "terraform/eks-versions.json lacks {} (EKS: standard support until {}, extended until {})",
                v.version,
                show(v.end_of_standard),
                show(v.end_of_extended)
            )),
            Some((s, e)) if Some(s) != v.end_of_standard || Some(e) != v.end_of_extended => {
                out.push(format!(
                    "terraform/eks-versions.json gives {} {s} / {e}, EKS {} / {} (ends of standard / extended support)",
                    v.version,
                    show(v.end_of_standard),
                    show(v.end_of_extended)
                ))
            }
            Some(_) => {}
        }
    }
    out
}

/// The file's dates for `version`: (end of standard support, end of extended support).
pub fn dates(version: &str) -> Option<(Date, Date)> {
    table()
        .versions
        .get(version.trim())
        .map(|d| (d.standard_end, d.extended_end))
}

/// The versions in standard support on `today`, oldest first.
pub fn in_standard_support(today: Date) -> Vec<String> {
    let mut v: Vec<(u32, String)> = table()
        .versions
        .iter()
        .filter(|(_, d)| today < d.standard_end)
        .filter_map(|(k, _)| minor(k).map(|m| (m, k.clone())))
        .collect();
    v.sort();
    v.into_iter().map(|(_, k)| k).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    #[test]
    fn the_table_parses_and_its_dates_are_in_order() {
        let t = table();
        assert!(t.source.contains("docs.aws.amazon.com/eks"), "{}", t.source);
        for (v, dates) in &t.versions {
            assert!(minor(v).is_some(), "{v}");
            assert!(dates.standard_end < dates.extended_end, "{v}");
        }
        // A version read from another source than the table's names where (`sources`), and
        // is one the table has.
        let raw: serde_json::Value = serde_json::from_str(TABLE).unwrap();
        for (v, source) in raw["sources"].as_object().unwrap() {
            assert!(t.versions.contains_key(v), "{v}");
            assert!(source.as_str().unwrap().contains("commit"), "{v}: {source}");
        }
        assert!(
            raw["sources"]["1.36"]
                .as_str()
                .unwrap()
                .contains("endoflife-date/release-data")
        );
    }

    #[test]
    fn support_follows_the_calendar() {
        // 1.31: standard to 2025-11-26, extended to 2026-11-26 (the table).
        assert!(matches!(
            support("1.31", d("2025-06-01")),
            Support::Standard { .. }
        ));
        assert!(matches!(
            support("1.31", d("2026-06-01")),
            Support::Extended { .. }
        ));
        assert_eq!(
            support("1.31", d("2026-11-27")),
            Support::Ended {
                on: d("2026-11-26")
            }
        );
        assert_eq!(support("1.28", d("2026-11-27")), Support::Unknown);
        assert_eq!(support("banana", d("2026-11-27")), Support::Unknown);
        assert!(matches!(
            support("1.99", d("2026-11-27")),
            Support::Newer { .. }
        ));
    }

    #[test]
    fn terraforms_default_version_is_in_standard_support_today() {
        // The same default deployctl checks tfvars against; this fails when it goes stale.
        let vars = include_str!("../../terraform/variables.tf");
        let block = vars
            .split("variable \"kubernetes_version\"")
            .nth(1)
            .expect("variables.tf declares kubernetes_version");
        let default = block
            .lines()
            .find_map(|l| l.trim().strip_prefix("default"))
            .and_then(|l| l.split('"').nth(1))
            .expect("kubernetes_version has a default");
        assert!(
            matches!(support(default, today()), Support::Standard { .. }),
            "the default Kubernetes version {default} is not in standard support today: {}",
            describe(default, today())
        );
    }
}
