//! A real PostgreSQL (Debian's `postgresql` package, installed by scripts/test.sh) on a free
//! port, with TLS (a throw-away self-signed certificate: our URLs say `sslmode=require`, as
//! RDS needs) and SCRAM passwords, shaped like the RDS instance the stack uses: a master role
//! that may create roles and databases but is not a superuser (RDS's `rds_superuser` is not
//! one either), owning the database LiteLLM uses. As root the server runs as the `postgres`
//! user (PostgreSQL refuses to run as root). Stopped when the value is dropped.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub struct Postgres {
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    dir: tempfile::TempDir,
    as_postgres: bool,
}

/// The master role and the database it owns (as Terraform creates them on RDS).
pub const MASTER: &str = "litellm";
pub const MASTER_DB: &str = "litellm";

fn bin_dir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run scripts/test.sh, which installs Debian's postgresql")
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Postgres {
    /// A server whose master role `litellm` has `master_password` (given to initdb and psql
    /// in files, never in argv).
    pub fn start(master_password: &str) -> Postgres {
        let bin = bin_dir();
        let dir = tempfile::tempdir().unwrap();
        let as_postgres = is_root();
        let port = super::litellm_real::free_port();
        let data = dir.path().join("data");
        let pg = Postgres {
            port,
            bin,
            data: data.clone(),
            dir,
            as_postgres,
        };
        let d = pg.dir.path();
        // The certificate the server presents (clients with sslmode=require do not verify it).
        let out = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", "/CN=localhost", "-keyout"])
            .arg(d.join("server.key"))
            .arg("-out")
            .arg(d.join("server.crt"))
            .output()
            .expect("openssl");
        assert!(out.status.success(), "openssl: {out:?}");
        std::fs::write(d.join("superuser-password"), "bootstrap-only\n").unwrap();
        if as_postgres {
            let chmod = Command::new("chmod").arg("755").arg(d).status().unwrap();
            assert!(chmod.success());
            let chown = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(d)
                .status()
                .unwrap();
            assert!(chown.success());
        }
        let key_mode = pg.run("chmod", &["600", d.join("server.key").to_str().unwrap()]);
        assert!(key_mode.status.success());
        let init = pg.run(
            pg.bin.join("initdb").to_str().unwrap(),
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                &format!("--pwfile={}", d.join("superuser-password").display()),
                "--no-sync",
            ],
        );
        assert!(init.status.success(), "initdb: {}", text(&init));
        let conf = format!(
            "\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{sock}'\n\
             ssl = on\nssl_cert_file = '{sock}/server.crt'\nssl_key_file = '{sock}/server.key'\n\
             fsync = off\nlog_statement = 'all'\n",
            sock = d.display()
        );
        let mut existing = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
        existing.push_str(&conf);
        std::fs::write(data.join("postgresql.conf"), existing).unwrap();
        let started = pg.run(
            pg.bin.join("pg_ctl").to_str().unwrap(),
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                d.join("server.log").to_str().unwrap(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        assert!(
            started.status.success(),
            "pg_ctl start: {}\n{}",
            text(&started),
            pg.log()
        );
        // RDS's master: not a superuser; may create roles and databases; owns LiteLLM's.
        let setup = format!(
            "SET log_statement = 'none';\n\
             CREATE ROLE {MASTER} WITH LOGIN CREATEROLE CREATEDB PASSWORD '{}';\n\
             CREATE DATABASE {MASTER_DB} OWNER {MASTER};\n",
            master_password.replace('\'', "''")
        );
        pg.psql_as_superuser("postgres", &setup);
        pg
    }

    /// `command args…`, as the `postgres` user when running as root.
    fn run(&self, command: &str, args: &[&str]) -> Output {
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", command]);
            c
        } else {
            Command::new(command)
        };
        c.args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{command}: {e}"))
    }

    /// SQL as the superuser over the server's socket (a file, so no value is in argv).
    pub fn psql_as_superuser(&self, database: &str, sql: &str) -> String {
        let file = self.dir.path().join("statements.sql");
        std::fs::write(&file, sql).unwrap();
        if self.as_postgres {
            let _ = Command::new("chown")
                .arg("postgres:postgres")
                .arg(&file)
                .status();
        }
        let out = self.run(
            self.bin.join("psql").to_str().unwrap(),
            &[
                "-h",
                self.dir.path().to_str().unwrap(),
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-f",
                file.to_str().unwrap(),
            ],
        );
        let _ = std::fs::remove_file(&file);
        assert!(out.status.success(), "psql: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `postgresql://user:password@127.0.0.1:port/db?sslmode=require`.
    pub fn url(&self, user: &str, password: &str, database: &str) -> String {
        format!(
            "postgresql://{user}:{password}@127.0.0.1:{}/{database}?sslmode=require",
            self.port
        )
    }

    /// The server's log (every statement: `log_statement = 'all'`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.run(
            self.bin.join("pg_ctl").to_str().unwrap(),
            &["-D", self.data.to_str().unwrap(), "-m", "immediate", "stop"],
        );
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
