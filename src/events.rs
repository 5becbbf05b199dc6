//! The machine messages of `--output json`: one JSON object per line on stdout, one type per
//! event (as cargo's `machine_message`), written only through [`crate::ui::Ui::emit`].
//! `docs/events.schema.json` describes them for readers; a unit test below holds the two to
//! the same fields. Every run ends with exactly one [`Summary`], written by `lib::run` from
//! what the command returned (the signal handler writes its own when it ends the process).

use crate::error::ExitCode;
use serde::Serialize;
use serde_json::Value;

/// One event.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// `deployctl list`.
    List(Listing),
    /// A step's state, what the run does and why (`plan`, and before every run).
    Plan {
        step: String,
        state: String,
        action: String,
        why: String,
    },
    StepStarted {
        step: String,
        action: String,
    },
    StepFinished {
        step: String,
        ok: bool,
        message: String,
        duration_ms: u64,
    },
    /// One check of `infrastructure-verify`.
    Check {
        section: String,
        ok: bool,
        unproven: bool,
        text: String,
        details: Vec<String>,
    },
    /// `bastion create` made or found the bastion.
    Bastion {
        instance_id: String,
        security_group: String,
        role: String,
    },
    /// One row of `outdated`.
    Outdated {
        what: String,
        name: String,
        current: String,
        latest: String,
        behind: bool,
        unread: bool,
        note: String,
        installed: Option<String>,
        engine: Option<String>,
    },
    /// The operator quit at a question before anything changed.
    Quit {
        exit_code: ExitCode,
    },
    Summary(Summary),
}

/// `deployctl list`'s content (see `list::listing`).
#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    pub infrastructure_modules: Vec<Described>,
    pub components: Vec<Component>,
    pub modes: Vec<Described>,
    pub verification: Vec<Described>,
}

/// A named thing and what it is (a Terraform module, a mode, a verification command).
#[derive(Debug, Clone, Serialize)]
pub struct Described {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    pub description: String,
}

/// One step of `list`.
#[derive(Debug, Clone, Serialize)]
pub struct Component {
    pub name: String,
    pub title: String,
    pub help: String,
    pub critical: bool,
    pub needs: Vec<String>,
    pub companions: Vec<String>,
    pub kind: String,
    pub runs_last: bool,
}

/// The last line of every invocation.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub command: String,
    pub exit_code: ExitCode,
    /// Runs of steps (and `uninstall`): one row per selected step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepRow>>,
    /// `infrastructure-verify`: how many checks failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<usize>,
    /// Present exactly when the exit code is not 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorReport>,
}

impl Summary {
    /// A summary with nothing but the command, its code and (when it failed) the error.
    pub fn new(command: &str, exit_code: ExitCode, error: Option<ErrorReport>) -> Summary {
        Summary {
            command: command.to_string(),
            exit_code,
            steps: None,
            failed: None,
            error,
        }
    }
}

/// One step's row in the summary.
#[derive(Debug, Clone, Serialize)]
pub struct StepRow {
    pub step: String,
    pub decision: String,
    pub result: String,
    pub message: String,
    pub duration_ms: u64,
}

/// Why a run did not succeed: the message, the next command, and what failed (a preflight
/// check, settings, usage, the failed steps, or the command).
#[derive(Debug, Clone, Serialize)]
pub struct ErrorReport {
    pub message: String,
    pub help: Option<String>,
    pub check: Option<String>,
}

impl Event {
    /// The event as one JSON line.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| {
            // Serialising these types cannot fail (no maps with non-string keys); say so
            // rather than print nothing.
            serde_json::json!({"event": "summary", "command": "", "exit_code": 1,
                "error": {"message": format!("internal error: an event did not serialise: {e}"),
                          "help": null, "check": null}})
            .to_string()
        })
    }

    /// As a JSON value (tests, and `list`'s text rendering).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// One of every event, every optional field present.
    fn one_of_each() -> Vec<Event> {
        let s = |t: &str| t.to_string();
        vec![
            Event::List(crate::commands::list::listing()),
            Event::Plan {
                step: s("redis"),
                state: s("healthy"),
                action: s("skip"),
                why: s("healthy"),
            },
            Event::StepStarted {
                step: s("redis"),
                action: s("install"),
            },
            Event::StepFinished {
                step: s("redis"),
                ok: true,
                message: s("installed"),
                duration_ms: 1,
            },
            Event::Check {
                section: s("EKS cluster"),
                ok: true,
                unproven: false,
                text: s("exists"),
                details: vec![s("ACTIVE")],
            },
            Event::Bastion {
                instance_id: s("i-1"),
                security_group: s("sg-1"),
                role: s("arn:aws:iam::1:role/b"),
            },
            Event::Outdated {
                what: s("release"),
                name: s("redis"),
                current: s("1"),
                latest: s("2"),
                behind: true,
                unread: false,
                note: s("n"),
                installed: Some(s("1")),
                engine: Some(s("e")),
            },
            Event::Quit {
                exit_code: ExitCode::OK,
            },
            Event::Summary(Summary {
                command: s("all"),
                exit_code: ExitCode::FAILED,
                steps: Some(vec![StepRow {
                    step: s("redis"),
                    decision: s("install"),
                    result: s("failed"),
                    message: s("m"),
                    duration_ms: 1,
                }]),
                failed: Some(1),
                error: Some(ErrorReport {
                    message: s("failed: redis"),
                    help: Some(s("fix")),
                    check: Some(s("redis")),
                }),
            }),
        ]
    }

    fn keys(v: &Value) -> BTreeSet<String> {
        v.as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The types and docs/events.schema.json name the same events with the same fields: a
    /// field added to one and not the other fails here.
    #[test]
    fn the_event_types_and_the_schema_agree() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let schema: Value = serde_json::from_str(
            &std::fs::read_to_string(root.join("docs/events.schema.json")).unwrap(),
        )
        .unwrap();
        let defs = schema["$defs"].as_object().unwrap();
        let events: Vec<Value> = one_of_each().iter().map(Event::to_value).collect();
        let mut named = BTreeSet::new();
        for e in &events {
            let name = e["event"].as_str().unwrap().to_string();
            let def = defs
                .get(&name)
                .unwrap_or_else(|| panic!("event {name} is not in the schema"));
            assert_eq!(
                keys(e),
                keys(&def["properties"]),
                "event {name}: the type's fields and the schema's properties differ"
            );
            for r in def["required"].as_array().unwrap() {
                assert!(e.get(r.as_str().unwrap()).is_some(), "{name}: {r}");
            }
            named.insert(name);
        }
        // Every event the schema lists (its top-level oneOf) has a type.
        for one in schema["oneOf"].as_array().unwrap() {
            let name = one["$ref"].as_str().unwrap().trim_start_matches("#/$defs/");
            assert!(named.contains(name), "the schema's {name} has no type");
        }
        // Nested shapes: a summary row, the error, a listed component.
        let summary = &events[events.len() - 1];
        let def = &defs["summary"]["properties"];
        assert_eq!(
            keys(&summary["steps"][0]),
            keys(&def["steps"]["items"]["properties"])
        );
        assert_eq!(keys(&summary["error"]), keys(&def["error"]["properties"]));
        assert_eq!(
            keys(&events[0]["components"][0]),
            keys(&defs["list"]["properties"]["components"]["items"]["properties"])
        );
    }

    #[test]
    fn a_successful_summary_has_no_error_field() {
        let v = Event::Summary(Summary::new("redis", ExitCode::OK, None)).to_value();
        assert_eq!(
            v,
            serde_json::json!({"event": "summary", "command": "redis", "exit_code": 0})
        );
    }
}
