//! `deployctl secrets` against moto's server: creation, the safety gates, and no leaks.

use crate::support;

use rexpect::session::PtySession;
use std::collections::BTreeMap;
use support::aws_front::{AwsFault, AwsFront};
use support::moto::Moto;
use support::{Run, Sandbox, key, pty};

const DB_URL: &str = "postgresql://litellm:Db-Pa55word-never-shown@db.internal:5432/litellm";
/// What is stored for DB_URL: deployctl adds sslmode=require to a URL that names no sslmode.
const STORED_DB_URL: &str =
    "postgresql://litellm:Db-Pa55word-never-shown@db.internal:5432/litellm?sslmode=require";
const NAMES: &[&str] = &[
    "litellm/master-key",
    "litellm/salt-key",
    "litellm/redis-password",
    "litellm/database-url",
    "litellm/webui-secret-key",
    "litellm/openwebui-admin",
];

async fn values(sdk: &aws_config::SdkConfig) -> BTreeMap<String, String> {
    let sm = aws_sdk_secretsmanager::Client::new(sdk);
    let mut out = BTreeMap::new();
    for name in NAMES {
        if let Ok(v) = sm.get_secret_value().secret_id(*name).send().await {
            out.insert(name.to_string(), v.secret_string().unwrap().to_string());
        }
    }
    out
}

fn sandbox(moto: &Moto) -> Sandbox {
    let mut sb = Sandbox::bare();
    sb.with_moto(moto);
    let tmp = sb.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    sb.set("TMPDIR", tmp.to_str().unwrap());
    sb
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_account_gets_six_tagged_secrets_of_the_right_shape() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    let mut sb = sandbox(moto);
    sb.set("DATABASE_URL", DB_URL);
    sb.run(&["secrets"]).await.assert_code(0);
    let v = values(&sdk).await;
    assert_eq!(v.len(), 6, "{:?}", v.keys());
    let hex = |s: &str| s.chars().all(|c| c.is_ascii_hexdigit());
    // OpenWebUI's first admin: a random password, made before OpenWebUI ever starts.
    let admin = &v["litellm/openwebui-admin"];
    assert!(admin.len() == 48 && hex(admin), "{}", admin.len());
    let mk = &v["litellm/master-key"];
    assert!(mk.starts_with("sk-") && mk.len() == 67 && hex(&mk[3..]));
    assert!(v["litellm/salt-key"].len() == 64 && hex(&v["litellm/salt-key"]));
    assert!(v["litellm/redis-password"].len() == 32 && hex(&v["litellm/redis-password"]));
    assert!(v["litellm/webui-secret-key"].len() == 64);
    assert_eq!(v["litellm/database-url"], STORED_DB_URL);
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    for name in NAMES {
        let d = sm.describe_secret().secret_id(*name).send().await.unwrap();
        let tags: Vec<(String, String)> = d
            .tags()
            .iter()
            .map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string()))
            .collect();
        assert!(
            tags.contains(&("managed-by".into(), "deployctl".into())),
            "{name}: {tags:?}"
        );
        assert!(
            tags.contains(&("app".into(), "litellm-stack".into())),
            "{name}: {tags:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn non_interactive_reruns_change_no_value_and_rotate_changes_exactly_one() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    let mut sb = sandbox(moto);
    sb.set("DATABASE_URL", DB_URL);
    sb.run(&["secrets"]).await.assert_code(0);
    let before = values(&sdk).await;
    for _ in 0..2 {
        sb.run(&["secrets"]).await.assert_code(0);
    }
    sb.set("AUTO_SKIP_HEALTHY", "true");
    sb.run(&["secrets"]).await.assert_code(0);
    sb.set("AUTO_SKIP_HEALTHY", "false");
    assert_eq!(
        values(&sdk).await,
        before,
        "a non-interactive re-run changed a value"
    );

    // No cluster here: the rotation is refused before any value changes (the cluster that
    // must follow cannot be proven), and says so.
    let run = sb.run(&["secrets", "--rotate", "redis-password"]).await;
    run.assert_code(1);
    assert!(
        run.stdout.contains("refusing to rotate redis-password")
            && run.stdout.contains("nothing was rotated"),
        "{}",
        run.stdout
    );
    assert_eq!(values(&sdk).await, before, "a value changed");
}

#[tokio::test(flavor = "multi_thread")]
async fn salt_key_and_database_url_have_no_rotation_and_master_key_needs_the_acknowledgement() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    let mut sb = sandbox(moto);
    sb.set("DATABASE_URL", DB_URL);
    sb.run(&["secrets"]).await.assert_code(0);
    let before = values(&sdk).await;
    let run = sb.run(&["secrets", "--rotate", "salt-key"]).await;
    run.assert_code(2);
    assert!(
        run.stderr.contains("salt-key cannot be rotated"),
        "{}",
        run.stderr
    );
    let run = sb.run(&["secrets", "--rotate", "database-url"]).await;
    run.assert_code(2);
    let run = sb.run(&["secrets", "--rotate", "master-key"]).await;
    run.assert_code(2);
    assert!(
        run.stderr.contains("--i-understand-this-breaks-api-keys"),
        "{}",
        run.stderr
    );
    assert_eq!(values(&sdk).await, before);
    sb.run(&[
        "secrets",
        "--rotate",
        "master-key",
        "--i-understand-this-breaks-api-keys",
    ])
    .await
    .assert_code(0);
    let after = values(&sdk).await;
    assert_ne!(after["litellm/master-key"], before["litellm/master-key"]);
    assert_eq!(after["litellm/salt-key"], before["litellm/salt-key"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_database_url_stops_before_anything_is_created() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    let sb = sandbox(moto);
    let run = sb.run(&["secrets"]).await;
    run.assert_code(1);
    let text = run.all();
    assert!(
        text.contains("litellm/database-url does not exist"),
        "{text}"
    );
    assert!(text.contains("DATABASE_URL='postgresql://"), "{text}");
    assert!(text.contains("nothing was created"), "{text}");
    assert!(
        values(&sdk).await.is_empty(),
        "secrets were created half-way"
    );
    // plan says so too, and exits 1.
    let plan = sb.run(&["plan", "secrets"]).await;
    plan.assert_code(1);
    assert!(
        plan.stdout.contains("secrets cannot run"),
        "{}",
        plan.stdout
    );
    // A URL that is not postgres is refused without being echoed.
    let mut sb = sandbox(moto);
    sb.set("DATABASE_URL", "mysql://root:Hunter2-secret@h/db");
    let run = sb.run(&["secrets"]).await;
    // Bad input is a usage error (exit 2), even though it is found while preparing the step.
    run.assert_code(2);
    assert!(!run.all().contains("Hunter2-secret"), "{}", run.all());
    assert!(values(&sdk).await.is_empty());
    // A URL without a host is refused and never printed either.
    sb.set("DATABASE_URL", "postgresql://litellm:S3cretPass");
    let run = sb.run(&["secrets"]).await;
    run.assert_code(2);
    assert!(!run.all().contains("S3cretPass"), "{}", run.all());
    assert!(values(&sdk).await.is_empty());
    // A URL that turns TLS off is refused (RDS forces TLS), never printed.
    sb.set(
        "DATABASE_URL",
        "postgresql://litellm:S3cretPass@db.internal:5432/litellm?sslmode=disable",
    );
    let run = sb.run(&["secrets"]).await;
    run.assert_code(2);
    assert!(run.all().contains("sslmode=disable"), "{}", run.all());
    assert!(!run.all().contains("S3cretPass"), "{}", run.all());
    assert!(values(&sdk).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_database_url_comes_from_a_file_or_stdin_never_from_argv() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    let sb = sandbox(moto);
    // On the command line: refused without echo, nothing created.
    let run = sb.run(&["secrets", "--database-url", DB_URL]).await;
    run.assert_code(2);
    assert!(run.all().contains("--database-url-file"), "{}", run.all());
    assert!(
        !run.all().contains("Db-Pa55word-never-shown"),
        "{}",
        run.all()
    );
    assert!(values(&sdk).await.is_empty());
    // A missing file names the file.
    let run = sb
        .run(&["secrets", "--database-url-file", "/nonexistent/url"])
        .await;
    run.assert_code(2);
    assert!(run.stderr.contains("/nonexistent/url"), "{}", run.stderr);
    // From stdin.
    let mut cmd =
        tokio::process::Command::from(sb.command(&["secrets", "--database-url-file", "-"]));
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(format!("{DB_URL}\n").as_bytes())
            .await
            .unwrap();
    }
    let run = Run::from(child.wait_with_output().await.unwrap());
    run.assert_code(0);
    assert!(
        !run.all().contains("Db-Pa55word-never-shown"),
        "{}",
        run.all()
    );
    assert_eq!(values(&sdk).await["litellm/database-url"], STORED_DB_URL);
    // From a file (a fresh account).
    moto.reset().await;
    let file = sb.path().join("db-url");
    std::fs::write(&file, format!("{DB_URL}\n")).unwrap();
    let run = sb
        .run(&["secrets", "--database-url-file", file.to_str().unwrap()])
        .await;
    run.assert_code(0);
    assert_eq!(values(&sdk).await["litellm/database-url"], STORED_DB_URL);
}

fn line(p: &mut PtySession, text: &str) {
    p.send_line(text).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn master_key_rotation_needs_the_warning_and_a_second_yes() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    let mut sb = sandbox(moto);
    sb.set("DATABASE_URL", DB_URL);
    sb.run(&["secrets"]).await.assert_code(0);
    let before = values(&sdk).await;

    // y, then N at the second question: the key stays.
    let code = pty(&sb, &["secrets"], |p| {
        p.exp_string("Choose [S/p/v/a/q]: ").unwrap();
        key(p, "p");
        p.exp_string("Rotate litellm/master-key?").unwrap();
        line(p, "y");
        p.exp_string("breaks every API key").unwrap();
        p.exp_string("Rotate litellm/master-key anyway?").unwrap();
        line(p, "n");
        p.exp_string("litellm/master-key is kept").unwrap();
        // salt-key: explained, no question.
        let out = p.exp_string("Rotate litellm/redis-password?").unwrap();
        assert!(out.contains("litellm/salt-key stays as it is"), "{out}");
        assert!(out.contains("cannot be rotated"), "{out}");
        assert!(!out.contains("Rotate litellm/salt-key"), "{out}");
        line(p, "");
        p.exp_string("Change litellm/database-url?").unwrap();
        line(p, "");
        p.exp_string("Rotate litellm/webui-secret-key?").unwrap();
        line(p, "");
        p.exp_eof().unwrap();
    })
    .await;
    assert_eq!(code, 0);
    assert_eq!(values(&sdk).await, before);

    // y, then y: rotated, and nothing else.
    let code = pty(&sb, &["secrets"], |p| {
        p.exp_string("Choose [S/p/v/a/q]: ").unwrap();
        key(p, "p");
        p.exp_string("Rotate litellm/master-key?").unwrap();
        line(p, "y");
        p.exp_string("Rotate litellm/master-key anyway?").unwrap();
        line(p, "y");
        p.exp_string("Rotate litellm/redis-password?").unwrap();
        line(p, "n");
        p.exp_string("Change litellm/database-url?").unwrap();
        line(p, "n");
        p.exp_string("Rotate litellm/webui-secret-key?").unwrap();
        line(p, "n");
        p.exp_string("rotated master-key").unwrap();
        p.exp_eof().unwrap();
    })
    .await;
    assert_eq!(code, 0);
    let after = values(&sdk).await;
    assert_ne!(after["litellm/master-key"], before["litellm/master-key"]);
    for name in &NAMES[1..] {
        assert_eq!(after[*name], before[*name], "{name}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_value_appears_in_any_output_log_or_temp_file() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    let mut sb = sandbox(moto);
    let mut outputs: Vec<Run> = Vec::new();
    // Every non-interactive path: missing URL, create, re-run, view via plan, rotations.
    outputs.push(sb.run(&["secrets"]).await);
    // The hidden-input path first: it creates everything, the URL typed without echo.
    let typed = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let seen = typed.clone();
    let code = pty(&sb, &["secrets"], move |p| {
        let mut t = seen.lock().unwrap();
        t.push_str(&p.exp_string("input hidden").unwrap());
        line(p, DB_URL);
        t.push_str(&p.exp_eof().unwrap());
    })
    .await;
    assert_eq!(code, 0);
    sb.set("DATABASE_URL", DB_URL);
    outputs.push(sb.run(&["secrets", "-v"]).await);
    outputs.push(sb.run(&["secrets", "--output", "json"]).await);
    outputs.push(sb.run(&["plan", "secrets", "-v"]).await);
    outputs.push(
        sb.run(&[
            "secrets",
            "--rotate",
            "redis-password",
            "--rotate",
            "webui-secret-key",
        ])
        .await,
    );
    outputs.push(
        sb.run(&[
            "secrets",
            "--rotate",
            "master-key",
            "--i-understand-this-breaks-api-keys",
            "-v",
        ])
        .await,
    );
    outputs.push(sb.run(&["infrastructure-verify"]).await);
    // Every AWS error path: Secrets Manager throttling and failing each operation
    // deployctl calls, past the SDK's retries.
    let front = AwsFront::start(&moto.url).await;
    sb.set("AWS_ENDPOINT_URL_SECRETS_MANAGER", &front.url);
    for (op, args, prefix) in [
        ("DescribeSecret", vec!["secrets"], "litellm"),
        (
            "PutSecretValue",
            vec!["secrets", "--rotate", "webui-secret-key"],
            "litellm",
        ),
        // A prefix with nothing yet: the creation path, with the database URL in hand.
        ("CreateSecret", vec!["secrets"], "leaktest"),
        ("GetSecretValue", vec!["infrastructure-verify"], "litellm"),
    ] {
        sb.set("SECRETS_PREFIX", prefix);
        for fault in [AwsFault::Throttle, AwsFault::InternalError] {
            front.fail(op, 100, fault);
            let run = sb.run(&args).await;
            assert_ne!(run.code, 0, "{op} {fault:?} did not fail the run");
            outputs.push(run);
            // Leave no unused fault for the next path.
            front.clear();
        }
        assert!(
            front
                .faulted
                .lock()
                .unwrap()
                .iter()
                .any(|o| o.ends_with(op)),
            "{op} was never called"
        );
    }
    sb.unset("SECRETS_PREFIX");
    sb.unset("AWS_ENDPOINT_URL_SECRETS_MANAGER");
    // And the interactive View: everything the terminal showed.
    let transcript = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let seen = transcript.clone();
    let code = pty(&sb, &["secrets"], move |p| {
        let mut t = seen.lock().unwrap();
        t.push_str(&p.exp_string("Choose [S/p/v/a/q]: ").unwrap());
        key(p, "v");
        t.push_str(&p.exp_string("last changed").unwrap());
        t.push_str(&p.exp_string("Choose [S/p/v/a/q]: ").unwrap());
        key(p, "q");
        t.push_str(&p.exp_eof().unwrap());
    })
    .await;
    assert_eq!(code, 0);
    assert!(transcript.lock().unwrap().contains("last changed"));

    let mut secrets: Vec<String> = values(&sdk).await.into_values().collect();
    secrets.push(DB_URL.to_string());
    secrets.push("Db-Pa55word-never-shown".to_string());
    // Every value the secrets ever had: the versions moto kept.
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    for name in NAMES {
        let versions = sm
            .list_secret_version_ids()
            .secret_id(*name)
            .send()
            .await
            .unwrap();
        for v in versions.versions() {
            if let Some(id) = v.version_id()
                && let Ok(val) = sm
                    .get_secret_value()
                    .secret_id(*name)
                    .version_id(id)
                    .send()
                    .await
            {
                secrets.push(val.secret_string().unwrap().to_string());
            }
        }
    }
    assert!(secrets.len() >= 8);
    let mut haystacks: Vec<(String, String)> = outputs
        .iter()
        .enumerate()
        .map(|(i, r)| (format!("run {i}"), r.all()))
        .collect();
    haystacks.push((
        "the View transcript".into(),
        transcript.lock().unwrap().clone(),
    ));
    haystacks.push((
        "the hidden-input transcript".into(),
        typed.lock().unwrap().clone(),
    ));
    // Every file deployctl could have left: the sandbox (HOME, TMPDIR, cwd).
    let mut stack = vec![sb.path().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                haystacks.push((
                    p.display().to_string(),
                    String::from_utf8_lossy(&bytes).into_owned(),
                ));
            }
        }
    }
    for secret in &secrets {
        for (what, text) in &haystacks {
            assert!(
                !text.contains(secret.as_str()),
                "a secret value appeared in {what}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interactive_fresh_run_asks_for_the_database_url_without_echo() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    let sb = sandbox(moto);
    let code = pty(&sb, &["secrets"], |p| {
        p.exp_string("input hidden").unwrap();
        line(p, DB_URL);
        let rest = p.exp_eof().unwrap();
        assert!(
            !rest.contains("Db-Pa55word-never-shown"),
            "the URL was echoed:\n{rest}"
        );
        assert!(rest.contains("created"), "{rest}");
    })
    .await;
    assert_eq!(code, 0);
    let v = values(&sdk).await;
    assert_eq!(v.len(), 6);
    assert_eq!(v["litellm/database-url"], STORED_DB_URL);
}

/// Whether the terminal behind the pty echoes input (the pty's termios, read on the master).
fn echoes(p: &PtySession) -> bool {
    use std::os::fd::AsRawFd;
    let f = p.process().get_file_handle().unwrap();
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::tcgetattr(f.as_raw_fd(), &mut t) }, 0);
    t.c_lflag & libc::ECHO != 0
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_at_the_hidden_database_url_prompt_quits_cleanly_with_echo_restored() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    let sb = sandbox(moto);
    // rexpect starts its pty with echo off; a terminal has it on: switch it on first.
    let inner = sb.command(&["secrets"]);
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.args(["-c", "stty echo && exec \"$0\" \"$@\""])
        .arg(inner.get_program())
        .args(inner.get_args())
        .env_clear()
        .current_dir(sb.path());
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    let code = tokio::task::spawn_blocking(move || {
        let mut session = rexpect::session::spawn_command(cmd, Some(20_000)).unwrap();
        let p = &mut session;
        p.exp_string("input hidden").unwrap();
        // The hidden input turns echo off...
        let started = std::time::Instant::now();
        while echoes(p) {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "echo stayed on at the hidden prompt"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        p.send_control('c').unwrap();
        let rest = p.exp_eof().unwrap();
        // Before any change, Ctrl-C at a question is Quit: exit 0, nothing changed.
        assert!(rest.contains("Quit: nothing has been changed."), "{rest}");
        // ...and quitting there leaves it on again.
        assert!(echoes(p), "the terminal's echo was left off");
        match p.process().wait().unwrap() {
            rexpect::process::WaitStatus::Exited(_, code) => code,
            other => panic!("deployctl ended with {other:?}"),
        }
    })
    .await
    .unwrap();
    assert_eq!(code, 0);
    assert!(values(&sdk).await.is_empty(), "something was created");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mistyped_hidden_database_url_is_asked_again_three_times() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    let sb = sandbox(moto);
    // Wrong twice, right the third time: created, and neither typed value is ever shown.
    let code = pty(&sb, &["secrets"], |p| {
        p.exp_string("input hidden").unwrap();
        line(p, "mysql://Typo-Secret-1@db:3306/x");
        p.exp_string("not usable: it must start with postgresql://")
            .unwrap();
        p.exp_string("2 tries left").unwrap();
        p.exp_string("input hidden").unwrap();
        line(p, "postgresql://litellm:Typo-Secret-2");
        p.exp_string("1 try left").unwrap();
        p.exp_string("input hidden").unwrap();
        line(p, DB_URL);
        let rest = p.exp_eof().unwrap();
        assert!(rest.contains("created"), "{rest}");
        for secret in ["Typo-Secret-1", "Typo-Secret-2", "Db-Pa55word-never-shown"] {
            assert!(!rest.contains(secret), "a typed value was shown:\n{rest}");
        }
    })
    .await;
    assert_eq!(code, 0);
    assert_eq!(values(&sdk).await["litellm/database-url"], STORED_DB_URL);

    // Three wrong tries: a usage error (exit 2), nothing created, no value shown.
    moto.reset().await;
    let code = pty(&sb, &["secrets"], |p| {
        for n in 1..=3 {
            p.exp_string("input hidden").unwrap();
            line(p, &format!("mysql://Typo-Secret-{n}@db/x"));
        }
        let rest = p.exp_eof().unwrap();
        assert!(rest.contains("not usable"), "{rest}");
        assert!(rest.contains("(3 tries)"), "{rest}");
        assert!(
            !rest.contains("Typo-Secret"),
            "a typed value was shown:\n{rest}"
        );
    })
    .await;
    assert_eq!(code, 2);
    assert!(values(&sdk).await.is_empty(), "something was created");
}

/// With Terraform's `<prefix>/database-url` in place (encrypted with the stack's KMS key,
/// tagged by Terraform's default tags), the secrets deployctl creates use that same key, and
/// Terraform's secret keeps exactly its tags (a deployctl tag would be taken away again by
/// the next `terraform plan`, for ever).
#[tokio::test(flavor = "multi_thread")]
async fn created_secrets_use_the_stacks_kms_key_and_terraforms_secret_keeps_its_tags() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let key = "arn:aws:kms:us-east-1:123456789012:key/0b7c7a52-stack-secrets";
    let terraform_tags = [
        ("Project", "litellm"),
        ("Environment", "prod"),
        ("ManagedBy", "terraform"),
        ("Cluster", support::CLUSTER),
    ];
    sm.create_secret()
        .name("litellm/database-url")
        .kms_key_id(key)
        .secret_string(STORED_DB_URL)
        .set_tags(Some(
            terraform_tags
                .iter()
                .map(|(k, v)| {
                    aws_sdk_secretsmanager::types::Tag::builder()
                        .key(*k)
                        .value(*v)
                        .build()
                })
                .collect(),
        ))
        .send()
        .await
        .unwrap();
    let tags_of = |d: &aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput| {
        let mut t: Vec<(String, String)> = d
            .tags()
            .iter()
            .map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string()))
            .collect();
        t.sort();
        t
    };
    let before = tags_of(
        &sm.describe_secret()
            .secret_id("litellm/database-url")
            .send()
            .await
            .unwrap(),
    );

    let sb = sandbox(moto);
    let run = sb.run(&["secrets"]).await;
    run.assert_code(0);
    assert!(
        run.all()
            .contains("with the KMS key of the database-url secret"),
        "{}",
        run.all()
    );
    for name in NAMES.iter().filter(|n| !n.ends_with("database-url")) {
        let d = sm.describe_secret().secret_id(*name).send().await.unwrap();
        assert_eq!(d.kms_key_id(), Some(key), "{name}");
    }
    let after = tags_of(
        &sm.describe_secret()
            .secret_id("litellm/database-url")
            .send()
            .await
            .unwrap(),
    );
    assert_eq!(before, after, "Terraform's secret was re-tagged");
    // And a re-run has nothing to do (no tag "missing" on Terraform's secret).
    let again = sb.run(&["secrets", "-v"]).await;
    again.assert_code(0);
    assert!(
        again.all().contains("healthy") || again.all().contains("skip"),
        "{}",
        again.all()
    );
    assert!(!again.all().contains("tagged"), "{}", again.all());
}

/// The OpenWebUI secret now lives under the prefix like every other; an account that has the
/// original's `openwebui/webui-secret-key` keeps its value (sessions survive), and the old
/// secret is left alone.
#[tokio::test(flavor = "multi_thread")]
async fn the_original_openwebui_secret_is_carried_under_the_prefix() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let old_value = "0f".repeat(32);
    sm.create_secret()
        .name("openwebui/webui-secret-key")
        .secret_string(&old_value)
        .send()
        .await
        .unwrap();
    let mut sb = sandbox(moto);
    sb.set("DATABASE_URL", DB_URL);
    let run = sb.run(&["secrets"]).await;
    run.assert_code(0);
    assert!(
        run.all()
            .contains("carried over the value of webui-secret-key from openwebui/webui-secret-key"),
        "{}",
        run.all()
    );
    assert!(!run.all().contains(&old_value), "a value was printed");
    assert_eq!(values(&sdk).await["litellm/webui-secret-key"], old_value);
    let old = sm
        .get_secret_value()
        .secret_id("openwebui/webui-secret-key")
        .send()
        .await
        .unwrap();
    assert_eq!(old.secret_string(), Some(old_value.as_str()));
}

/// A stack secret deleted with a recovery window: CreateSecret of its name would be refused
/// for days. The run stops and says how to restore it; `--restore-deleted` restores it with
/// its old value (a salt-key must never be replaced) and creates the rest.
#[tokio::test(flavor = "multi_thread")]
async fn a_secret_scheduled_for_deletion_is_restored_not_recreated() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let salt = "5a".repeat(32);
    sm.create_secret()
        .name("litellm/salt-key")
        .secret_string(&salt)
        .send()
        .await
        .unwrap();
    sm.delete_secret()
        .secret_id("litellm/salt-key")
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    let mut sb = sandbox(moto);
    sb.set("DATABASE_URL", DB_URL);

    // The plan says so too (and that the run cannot go on as it is).
    let plan = sb.run(&["plan", "secrets"]).await;
    plan.assert_code(1);
    assert!(
        plan.stdout
            .contains("litellm/salt-key was deleted and is scheduled to go on"),
        "{}",
        plan.stdout
    );
    let run = sb.run(&["secrets"]).await;
    run.assert_code(1);
    let all = run.all();
    assert!(
        all.contains("litellm/salt-key was deleted") && all.contains("--restore-deleted"),
        "{all}"
    );
    assert!(
        values(&sdk).await.is_empty(),
        "secrets were created although the run stopped"
    );

    let run = sb.run(&["secrets", "--restore-deleted"]).await;
    run.assert_code(0);
    assert!(run.all().contains("restored salt-key"), "{}", run.all());
    assert!(!run.all().contains(&salt), "a value was printed");
    let v = values(&sdk).await;
    assert_eq!(v.len(), 6, "{:?}", v.keys());
    assert_eq!(v["litellm/salt-key"], salt, "the salt-key was replaced");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openwebui_admin_password_is_shown_only_on_a_terminal() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    let mut sb = sandbox(moto);
    sb.set("DATABASE_URL", DB_URL);
    sb.run(&["secrets"]).await.assert_code(0);
    let password = values(&sdk).await["litellm/openwebui-admin"].clone();

    // stdout a pipe (a log, `| tee`): refused before the value is read, naming another way.
    let run = sb.run(&["secrets", "--reveal", "openwebui-admin"]).await;
    run.assert_code(2);
    assert!(
        !run.all().contains(&password),
        "the password reached a pipe"
    );
    assert!(
        run.stderr
            .contains("refusing to write litellm/openwebui-admin anywhere but a terminal")
            && run.stderr.contains(
                "aws secretsmanager get-secret-value --secret-id litellm/openwebui-admin"
            ),
        "{}",
        run.stderr
    );
    // Only openwebui-admin can be revealed.
    let run = sb.run(&["secrets", "--reveal", "master-key"]).await;
    run.assert_code(2);

    // On a terminal: shown, with the admin's e-mail.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let out = seen.clone();
    let code = pty(&sb, &["secrets", "--reveal", "openwebui-admin"], move |p| {
        out.lock().unwrap().push_str(&p.exp_eof().unwrap());
    })
    .await;
    assert_eq!(code, 0);
    let shown = seen.lock().unwrap().clone();
    assert!(
        shown.contains("OpenWebUI admin admin@localhost") && shown.contains(&password),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_single_sign_on_the_oidc_client_secret_is_stored_from_the_environment_only() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    let mut sb = sandbox(moto);
    sb.set("DATABASE_URL", DB_URL)
        .set(
            "ENTRY_CERTIFICATE_ARN",
            "arn:aws:acm:us-east-1:123456789012:certificate/abc",
        )
        .set("OPENWEBUI_HOST", "chat.example.com")
        .set("OIDC_PROVIDER_URL", "https://login.example.com/realms/acme")
        .set("OIDC_CLIENT_ID", "openwebui");
    // Without the client secret: nothing is created, the variable is named.
    let run = sb.run(&["secrets"]).await;
    run.assert_code(1);
    assert!(
        run.all().contains(
            "litellm/openwebui-oidc does not exist and no value was given (OIDC_CLIENT_SECRET)"
        ),
        "{}",
        run.all()
    );
    assert!(values(&sdk).await.is_empty());
    // With it: stored, never shown, never passed on to a child.
    sb.set("OIDC_CLIENT_SECRET", "oidc-client-secret-never-shown");
    let run = sb.run(&["secrets", "-v"]).await;
    run.assert_code(0);
    assert!(!run.all().contains("oidc-client-secret-never-shown"));
    let v = values(&sdk).await;
    assert_eq!(v.len(), 6, "{:?}", v.keys());
    let oidc = aws_sdk_secretsmanager::Client::new(&sdk)
        .get_secret_value()
        .secret_id("litellm/openwebui-oidc")
        .send()
        .await
        .unwrap();
    assert_eq!(oidc.secret_string(), Some("oidc-client-secret-never-shown"));
    assert!(deployctl::platform::tools::NEVER_INHERITED.contains(&"OIDC_CLIENT_SECRET"));
}
