//! The contract screens, asserted whole: what an operator reads from `--help`, `list`, a usage
//! error's `error:`/`help:` block, `plan` on a fresh cluster and the summary of a run that
//! failed half-way (`redis.rs`), `outdated` (`outdated.rs`) and `diff` (`diff.rs`). Each is an
//! insta snapshot in `tests/suite/snapshots/`; durations, local ports and temporary paths are
//! redacted, so any other change to a screen fails until the new snapshot is reviewed
//! (`cargo insta review`, or `INSTA_UPDATE=always` and a look at the diff before committing).

use crate::support;

use support::Sandbox;
use support::moto::Moto;
use support::scenario::{Stack, stack};

/// The redactions every screen gets: what differs from run to run and machine to machine.
pub fn screen_settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_prepend_module_to_snapshot(false);
    s.set_snapshot_path("snapshots");
    // Durations: "0.2s", "41s", "2m05s", "1h02m".
    s.add_filter(r"\b\d+h\d{2}m\b|\b\d+m\d{2}s\b|\b\d+(\.\d)?s\b", "[time]");
    // Local servers the tests start (the fake API server, chart repositories, moto).
    s.add_filter(r"127\.0\.0\.1:\d{2,5}", "127.0.0.1:[port]");
    // The checkout (a fresh clone lives elsewhere), then temporary directories.
    let repo = support::repo_root();
    s.add_filter(&regex_escape(&repo.to_string_lossy()), "[repo]");
    s.add_filter(r"/tmp/[\w.\-/]+", "[tmp]");
    s
}

fn regex_escape(text: &str) -> String {
    regex::escape(text)
}

/// Assert `text` is the snapshot `name` (redacted as [`screen_settings`] says).
#[track_caller]
pub fn assert_screen(name: &str, text: &str) {
    screen_settings().bind(|| insta::assert_snapshot!(name, text));
}

#[tokio::test(flavor = "multi_thread")]
async fn help_lists_every_command_and_flag() {
    let run = Sandbox::bare().run(&["--help"]).await;
    run.assert_code(0);
    assert_screen("help", &run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn list_shows_every_step_with_its_aliases() {
    let run = Sandbox::bare().run(&["list"]).await;
    run.assert_code(0);
    assert_screen("list", &run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_environment_value_is_one_error_and_one_help_line() {
    let mut sb = Sandbox::bare();
    sb.set("INTERACTIVE_MODE", "maybe");
    let run = sb.run(&["plan"]).await;
    run.assert_code(2);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert_screen("usage_error", &run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_of_a_fresh_cluster_names_each_step_its_state_and_why() {
    let (moto, _guard) = Moto::lock().await;
    let Stack {
        kube: _kube,
        sb,
        charts: _charts,
    } = stack(moto).await;
    let run = sb.run(&["plan"]).await;
    run.assert_code(0);
    assert_screen("plan_fresh", &run.stdout);
}
