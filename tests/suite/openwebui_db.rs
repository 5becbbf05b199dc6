//! OpenWebUI's database on the stack's PostgreSQL: the set-up script the release's
//! pre-install/pre-upgrade hook Job runs (rendered by the real helm from our values) is run
//! here with Python and psycopg2 against a real PostgreSQL shaped like RDS (a master that may
//! create roles and databases but is no superuser), with the URLs deployctl writes to Secrets
//! Manager. pgvector is not packaged for Debian 12, so the extension itself is not created
//! here: the script's refusal without it is what is checked (RDS offers it).

use crate::support;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use support::charts::{charts_dir, parse_rendered, render_project};
use support::postgres::{MASTER, MASTER_DB, Postgres};

/// The rendered open-webui release's objects.
async fn rendered_openwebui() -> Vec<Value> {
    let charts = charts_dir();
    let run = render_project(&charts, &support::repo_root()).await;
    run.assert_code(0);
    parse_rendered(&run.stdout)
        .into_iter()
        .filter(|o| o.release == "open-webui")
        .map(|o| o.value)
        .collect()
}

fn python() -> std::path::PathBuf {
    let venv = support::repo_root().join(".venv/bin/python");
    assert!(
        venv.exists(),
        "the test venv is missing: run scripts/test.sh"
    );
    venv
}

struct Ran {
    ok: bool,
    out: String,
}

/// The set-up script with the environment the hook Job gives it.
fn run_setup(script: &std::path::Path, master: &str, app: &str, require_vector: bool) -> Ran {
    let mut c = std::process::Command::new(python());
    c.arg(script)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("MASTER_DATABASE_URL", master)
        .env("OPENWEBUI_DATABASE_URL", app);
    if !require_vector {
        c.env("REQUIRE_VECTOR", "false");
    }
    let out = c.output().expect("python");
    Ran {
        ok: out.status.success(),
        out: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// What a connection with `url` can do: `Ok(current_user/current_database)` or the error.
fn connect(url: &str, sql: &str) -> Result<String, String> {
    let code = "import os, sys, psycopg2\n\
        try:\n    c = psycopg2.connect(os.environ['URL'])\n\
        except psycopg2.OperationalError as e:\n    sys.exit(str(e).strip())\n\
        c.autocommit = True\ncur = c.cursor()\ncur.execute(os.environ['SQL'])\n\
        print(cur.fetchone()[0] if cur.description else 'done')\n";
    let out = std::process::Command::new(python())
        .args(["-c", code])
        .env("URL", url)
        .env("SQL", sql)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hook_makes_openwebuis_own_role_and_database_idempotently_without_leaking_a_password() {
    let objects = rendered_openwebui().await;
    let job = objects
        .iter()
        .find(|o| o["kind"] == "Job" && o["metadata"]["name"] == "openwebui-database-setup")
        .expect("the set-up Job");
    // The Job runs its inline script with the two URLs, before install and upgrade, and goes
    // once it has succeeded.
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["command"], serde_json::json!(["python3", "-c"]));
    let env: Vec<&str> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(env, ["MASTER_DATABASE_URL", "OPENWEBUI_DATABASE_URL"]);
    let annotations = &job["metadata"]["annotations"];
    assert_eq!(annotations["helm.sh/hook"], "pre-install,pre-upgrade");
    assert_eq!(
        annotations["helm.sh/hook-delete-policy"],
        "before-hook-creation,hook-succeeded"
    );
    assert!(
        objects
            .iter()
            .all(|o| o["kind"] != "ConfigMap"
                || o["metadata"]["annotations"]["helm.sh/hook"].is_null()),
        "no hook object stays behind"
    );

    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("setup.py");
    std::fs::write(&script, container["args"][0].as_str().unwrap()).unwrap();

    // The master's password has characters a URL must escape (Terraform's is random).
    let master_password = "m@st/er pw";
    let pg = Postgres::start(master_password);
    let master = pg.url(MASTER, "m%40st%2Fer%20pw", MASTER_DB);
    // deployctl's own derivation of OpenWebUI's URL from database-url.
    let app_password =
        SecretString::from("3f9a0c1be27d45a6b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d".to_string());
    let app = deployctl::stack::database_url::openwebui_url(
        &SecretString::from(master.clone()),
        &app_password,
    )
    .expect("a URL for OpenWebUI")
    .expose_secret()
    .to_string();
    assert!(
        app.contains("@127.0.0.1:") && app.ends_with("/openwebui?sslmode=require"),
        "the host is database-url's"
    );

    // Without pgvector the script refuses (OpenWebUI's VECTOR_DB=pgvector needs it) and says so.
    let first = run_setup(&script, &master, &app, true);
    assert!(!first.ok, "{}", first.out);
    assert!(
        first
            .out
            .contains("offers no 'vector' extension (pgvector)"),
        "{}",
        first.out
    );

    // With the extension not required, it completes; and again, changing nothing.
    let second = run_setup(&script, &master, &app, false);
    assert!(second.ok, "{}", second.out);
    assert!(
        second
            .out
            .contains("database openwebui ready for role openwebui"),
        "{}",
        second.out
    );
    let third = run_setup(&script, &master, &app, false);
    assert!(third.ok, "{}", third.out);
    assert!(
        !third.out.contains("created") && !third.out.contains("set the password"),
        "a re-run changed something: {}",
        third.out
    );

    // OpenWebUI's URL works and its role owns its database, with no power beyond it.
    assert_eq!(
        connect(&app, "SELECT current_user || '/' || current_database()"),
        Ok("openwebui/openwebui".into())
    );
    assert_eq!(
        connect(&app, "CREATE TABLE chat (id int)"),
        Ok("done".into())
    );
    assert_eq!(
        pg.psql_as_superuser(
            "postgres",
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'openwebui';\n\
             SELECT rolsuper OR rolcreaterole OR rolcreatedb FROM pg_roles WHERE rolname = 'openwebui';"
        ),
        "openwebui\nf"
    );
    // It cannot open LiteLLM's database (spend, keys), and the master still can.
    let litellm_db = app.replace("/openwebui?", &format!("/{MASTER_DB}?"));
    let refused = connect(&litellm_db, "SELECT 1").unwrap_err();
    assert!(
        refused.contains("permission denied for database"),
        "{refused}"
    );
    assert_eq!(connect(&master, "SELECT current_user"), Ok(MASTER.into()));

    // A new password in the secret (the role kept an old one): the next run sets it.
    let new_password =
        SecretString::from("00112233445566778899aabbccddeeff0011223344556677".to_string());
    let moved = deployctl::stack::database_url::openwebui_url(
        &SecretString::from(master.clone()),
        &new_password,
    )
    .unwrap()
    .expose_secret()
    .to_string();
    let fourth = run_setup(&script, &master, &moved, false);
    assert!(
        fourth.ok && fourth.out.contains("set the password of role openwebui"),
        "{}",
        fourth.out
    );
    assert!(connect(&moved, "SELECT 1").is_ok());
    assert!(
        connect(&app, "SELECT 1")
            .unwrap_err()
            .contains("password authentication failed")
    );
    // The data is still there.
    assert_eq!(connect(&moved, "SELECT count(*) FROM chat"), Ok("0".into()));

    // No password in what the script printed nor in the server's statement log (which logs
    // every statement): the role's password is sent as a SCRAM verifier.
    let log = pg.log();
    assert!(log.contains("CREATE ROLE"), "the statement log is on");
    for secret in [
        master_password,
        app_password.expose_secret(),
        new_password.expose_secret(),
    ] {
        for (what, text) in [
            (
                "the script's output",
                format!("{}{}{}{}", first.out, second.out, third.out, fourth.out),
            ),
            ("the server log", log.clone()),
        ] {
            assert!(!text.contains(secret), "a password in {what}");
        }
    }
}
