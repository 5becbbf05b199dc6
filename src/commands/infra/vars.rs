//! The variables file: which one (`--var-file`, TFVARS_FILE, terraform/terraform.tfvars — an
//! interactive run offers to create it from the example), and the checks read from it before
//! anything is planned.

use super::TerraformOptions;
use crate::config::Settings;
use crate::error::UserError;
use crate::platform::tools::terraform::Terraform;
use crate::prompt::Prompter;
use crate::ui::Ui;
use anyhow::{Context as _, Result};
use std::path::{Path, PathBuf};

pub(super) const TFVARS: &str = "terraform.tfvars";

pub(super) const TFVARS_EXAMPLE: &str = "terraform.tfvars.example";

/// A plain value of a `name = value` line in an HCL file: a quoted string's content, or a bare
/// word (`true`, `12`).
pub(super) fn hcl_value(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        if key.trim() != name {
            return None;
        }
        let value = value.split('#').next()?.trim();
        match value.strip_prefix('"') {
            Some(quoted) => Some(quoted[..quoted.find('"')?].to_string()),
            None => value
                .split_whitespace()
                .next()
                .filter(|w| w.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'))
                .map(str::to_string),
        }
    })
}

/// A variable's value as Terraform will see it: the variables file's, else variables.tf's
/// default; with where it came from, for messages.
pub(super) fn tfvar(tf_dir: &Path, var_file: &Path, name: &str) -> Option<(String, String)> {
    if let Some(v) = std::fs::read_to_string(var_file)
        .ok()
        .and_then(|t| hcl_value(&t, name))
    {
        return Some((v, var_file.display().to_string()));
    }
    let vars = std::fs::read_to_string(tf_dir.join("variables.tf")).ok()?;
    let block = vars.split(&format!("variable \"{name}\"")).nth(1)?;
    let block = block.split("\nvariable ").next()?;
    let default = hcl_value(block, "default")?;
    Some((
        default,
        format!("the default in {}", tf_dir.join("variables.tf").display()),
    ))
}

/// The Kubernetes version the variables file asks for (or variables.tf's default).
pub(super) fn kubernetes_version(tf_dir: &Path, var_file: &Path) -> Option<(String, String)> {
    tfvar(tf_dir, var_file, "kubernetes_version")
}

/// `complete` goes on to the cluster steps: with a private endpoint and no bastion there is
/// no way in from outside the VPC, which would stop the run after a long apply. Refused before
/// anything is planned, with the three ways in.
pub(super) fn check_api_path(tf_dir: &Path, var_file: &Path, settings: &Settings) -> Result<()> {
    if settings.api_access != crate::config::ApiAccess::Auto {
        // direct: the operator is inside the VPC; tunnel: they name a bastion of their own.
        return Ok(());
    }
    let yes = |name: &str| {
        tfvar(tf_dir, var_file, name).is_some_and(|(v, _)| v.eq_ignore_ascii_case("true"))
    };
    if yes("endpoint_public_access") || yes("create_bastion") {
        return Ok(());
    }
    Err(UserError::usage(
        format!(
            "{} makes the API endpoint private and creates no bastion: after Terraform, the cluster steps could not reach the cluster from here; nothing was planned",
            var_file.display()
        ),
        "set create_bastion = true (deployctl then tunnels through it over SSM), or endpoint_public_access = true with public_access_cidrs = [\"<your address>/32\"]; \
         from inside the VPC set API_ACCESS=direct, or API_ACCESS=tunnel when the cluster already has a bastion from `deployctl bastion create`",
    )
    .into())
}

/// One prefix for the whole stack: the variables file's `secrets_prefix` (or variables.tf's
/// default) is where Terraform writes `<prefix>/database-url`, and where the secrets step,
/// the ExternalSecrets and the IAM policy look. A SECRETS_PREFIX that differs is refused
/// before anything is planned; without SECRETS_PREFIX the variables file decides (and
/// `complete` carries it into the stack through the outputs).
pub(super) fn check_secrets_prefix(
    tf_dir: &Path,
    var_file: &Path,
    settings: &Settings,
    ui: &Ui,
) -> Result<()> {
    let Some((prefix, from)) = tfvar(tf_dir, var_file, "secrets_prefix") else {
        return Ok(());
    };
    if let Err(e) = crate::config::check_secrets_prefix(&prefix) {
        return Err(UserError::usage(
            format!("secrets_prefix in {from}: {}", e.message),
            "set secrets_prefix to a plain path such as \"litellm\" or \"prod/litellm\"",
        )
        .into());
    }
    if settings.secrets_prefix_given && settings.secrets_prefix != prefix {
        return Err(UserError::usage(
            format!(
                "SECRETS_PREFIX is `{}` but secrets_prefix is `{prefix}` ({from}): Terraform would write {prefix}/database-url while the stack looks under {}/; nothing was planned",
                settings.secrets_prefix, settings.secrets_prefix
            ),
            format!(
                "use one prefix: set secrets_prefix = \"{}\" in {}, or SECRETS_PREFIX={prefix} (or unset it)",
                settings.secrets_prefix,
                var_file.display()
            ),
        )
        .into());
    }
    if !settings.secrets_prefix_given && settings.secrets_prefix != prefix {
        ui.detail(&format!("secrets prefix `{prefix}` (from {from})"));
    }
    Ok(())
}

/// The quoted strings of a `name = [ ... ]` list in an HCL file (one line or several).
pub(super) fn hcl_list(text: &str, name: &str) -> Option<Vec<String>> {
    let start = text.lines().scan(0usize, |offset, line| {
        let at = *offset;
        *offset += line.len() + 1;
        Some((at, line))
    });
    let (at, _) = start
        .filter(|(_, line)| !line.trim_start().starts_with('#'))
        .find(|(_, line)| {
            line.split_once('=')
                .is_some_and(|(k, v)| k.trim() == name && v.trim_start().starts_with('['))
        })?;
    let rest = &text[at..];
    let open = rest.find('[')?;
    let close = rest[open..].find(']')? + open;
    let body: String = rest[open + 1..close]
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    Some(
        body.split('"')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect(),
    )
}

/// `arn:partition:service:region:account:resource`, split into its six parts.
fn arn_parts(arn: &str) -> Option<[&str; 6]> {
    let mut parts = arn.splitn(6, ':');
    Some([
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    ])
}

/// An `assumed-role` session ARN's role, as an IAM role ARN (without the role's path, which
/// the session ARN does not carry).
fn role_of_session(arn: &str) -> Option<String> {
    let [_, partition, service, _, account, resource] = arn_parts(arn)?;
    let role = resource.strip_prefix("assumed-role/")?.split('/').next()?;
    (service == "sts").then(|| format!("arn:{partition}:iam::{account}:role/{role}"))
}

/// `(account, kind, name)` of an IAM role or user ARN (the name without its path).
fn principal(arn: &str) -> Option<(String, String, String)> {
    let [_, _, service, _, account, resource] = arn_parts(arn)?;
    if service != "iam" {
        return None;
    }
    let (kind, path_name) = resource.split_once('/')?;
    let name = path_name.rsplit('/').next()?;
    matches!(kind, "role" | "user").then(|| {
        (
            account.to_string(),
            kind.to_string(),
            name.to_ascii_lowercase(),
        )
    })
}

/// The identity Terraform will run as (STS GetCallerIdentity), when AWS answers; `None`
/// otherwise (Terraform's own precondition then checks the creator).
async fn caller_arn(settings: &Settings) -> Option<String> {
    let aws = crate::platform::aws::Aws::load(settings).await;
    aws.sts()
        .get_caller_identity()
        .send()
        .await
        .ok()
        .and_then(|o| o.arn)
}

/// `cluster_admin_arns` as Terraform will get them: IAM role or user ARNs, no session ARN
/// (`assumed-role/…`: not a principal), none twice, and not the identity running the apply
/// (EKS gives the creator an access entry already: a second one fails the apply). Checked
/// before anything is planned; Terraform checks the same (variables.tf, modules/eks).
pub(super) async fn check_cluster_admins(var_file: &Path, settings: &Settings) -> Result<()> {
    let admins = std::fs::read_to_string(var_file)
        .ok()
        .and_then(|t| hcl_list(&t, "cluster_admin_arns"))
        .unwrap_or_default();
    if admins.is_empty() {
        return Ok(());
    }
    check_admin_list(var_file, &admins, caller_arn(settings).await.as_deref())
}

fn check_admin_list(var_file: &Path, admins: &[String], caller_arn: Option<&str>) -> Result<()> {
    let file = var_file.display();
    let mut seen: Vec<String> = Vec::new();
    for arn in admins {
        if let Some(role) = role_of_session(arn) {
            return Err(UserError::usage(
                format!(
                    "cluster_admin_arns in {file} lists `{arn}`, a role session: EKS access entries name principals, and a session is not one; nothing was planned"
                ),
                format!(
                    "list the role instead: `{role}` (with the role's path if it has one: `aws iam get-role --role-name {} --query Role.Arn`)",
                    role.rsplit('/').next().unwrap_or_default()
                ),
            )
            .into());
        }
        let Some(p) = principal(arn) else {
            return Err(UserError::usage(
                format!(
                    "cluster_admin_arns in {file} lists `{arn}`, which is not an IAM role or user ARN; nothing was planned"
                ),
                "write arn:aws:iam::ACCOUNT:role/NAME or arn:aws:iam::ACCOUNT:user/NAME",
            )
            .into());
        };
        let key = format!("{}:{}:{}", p.0, p.1, p.2);
        if seen.contains(&key) {
            return Err(UserError::usage(
                format!(
                    "cluster_admin_arns in {file} lists `{arn}` twice: EKS has one access entry per principal; nothing was planned"
                ),
                "keep one of them",
            )
            .into());
        }
        seen.push(key);
        let creator = caller_arn.and_then(|c| {
            role_of_session(c)
                .as_deref()
                .and_then(principal)
                .or_else(|| principal(c))
        });
        if creator.as_ref() == Some(&p) {
            return Err(UserError::usage(
                format!(
                    "cluster_admin_arns in {file} lists `{arn}`, the identity running Terraform (`{}`): whoever creates the cluster is its admin already, and a second access entry for it fails the apply; nothing was planned",
                    caller_arn.unwrap_or_default()
                ),
                "take it out of cluster_admin_arns (it stays admin as the creator)",
            )
            .into());
        }
    }
    Ok(())
}

/// EKS's own calendar (DescribeClusterVersions), or why it could not be read (no network,
/// no permission): the checks then use `terraform/eks-versions.json`, and say so.
pub async fn live_calendar(
    settings: &Settings,
) -> Result<Vec<crate::stack::eks_versions::VersionInfo>, String> {
    let aws = crate::platform::aws::Aws::load(settings).await;
    crate::platform::aws::eks::live_calendar(&aws).await
}

/// Before a plan or an apply (never a destroy): EKS creates no cluster of a version past
/// extended support, and a version past standard support costs extended-support fees. Judged
/// by EKS's own calendar when it answers, by `terraform/eks-versions.json` otherwise (said);
/// where the two disagree, the operator is told (Terraform's own check reads the file).
pub(super) async fn check_kubernetes_version(
    tf_dir: &Path,
    var_file: &Path,
    settings: &Settings,
    ui: &Ui,
) -> Result<()> {
    use crate::stack::eks_versions::{self, Support};
    let Some((version, from)) = kubernetes_version(tf_dir, var_file) else {
        return Ok(());
    };
    let today = eks_versions::today();
    let live = live_calendar(settings).await;
    let (support, current, source) = match &live {
        Ok(live) => {
            for d in eks_versions::disagreements(live) {
                ui.warn(&format!(
                    "{d}: update the file (Terraform's version check in modules/eks reads it)"
                ));
            }
            (
                eks_versions::support_live(&version, today, live),
                eks_versions::in_standard_support_live(live),
                "EKS's calendar (DescribeClusterVersions)".to_string(),
            )
        }
        Err(why) => {
            ui.detail(&format!(
                "EKS's calendar could not be read ({why}): kubernetes_version checked against terraform/eks-versions.json"
            ));
            (
                eks_versions::support(&version, today),
                eks_versions::in_standard_support(today),
                tf_dir.join("eks-versions.json").display().to_string(),
            )
        }
    };
    let suggest = current
        .last()
        .map(|v| format!("set kubernetes_version = \"{v}\" in {}", var_file.display()))
        .unwrap_or_else(|| format!("set kubernetes_version in {}", var_file.display()));
    match support {
        Support::Standard { .. } => Ok(()),
        Support::Extended {
            standard_ended,
            until,
        } => {
            ui.warn(&format!(
                "kubernetes_version {version} ({from}) left EKS standard support on {standard_ended}: extended support is billed per cluster hour and ends {until}; {suggest}"
            ));
            Ok(())
        }
        Support::Newer { newest_known } => {
            ui.warn(&format!(
                "kubernetes_version {version} ({from}) is newer than {source} knows (newest {newest_known}): its support dates are not checked"
            ));
            Ok(())
        }
        Support::Ended { on } => Err(UserError::usage(
            format!(
                "kubernetes_version {version} ({from}) left EKS extended support on {on}: EKS creates no cluster of it and upgrades existing ones; nothing was planned"
            ),
            format!(
                "{suggest} (in standard support today: {}; calendar: {source})",
                current.join(", "),
            ),
        )
        .into()),
        Support::Unknown => Err(UserError::usage(
            format!(
                "kubernetes_version `{version}` ({from}) is not an EKS version deployctl knows (it is too old or not written like \"1.35\"); nothing was planned"
            ),
            format!(
                "{suggest} (in standard support today: {})",
                current.join(", ")
            ),
        )
        .into()),
    }
}

/// Why no variables file was found.
pub(super) enum TfvarsMissing {
    /// `--var-file` / TFVARS_FILE names a file that does not exist.
    Given(anyhow::Error),
    /// terraform/terraform.tfvars does not exist (an interactive run offers to create it).
    Default(anyhow::Error),
}

/// The variables file, without asking anything.
pub(super) fn tfvars_path(
    tf: &Terraform<'_>,
    args: &TerraformOptions,
    settings: &Settings,
) -> std::result::Result<PathBuf, TfvarsMissing> {
    if let Some(given) = args.var_file.as_ref().or(settings.tfvars_file.as_ref()) {
        let candidates = [given.clone(), tf.dir().join(given)];
        return candidates
            .iter()
            .find(|p| p.is_file())
            .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
            .ok_or_else(|| {
                TfvarsMissing::Given(
                    UserError::usage(
                        format!("variables file {} does not exist", given.display()),
                        format!(
                            "pass an existing file, e.g. --var-file {}/environments/dev.tfvars",
                            tf.dir().display()
                        ),
                    )
                    .into(),
                )
            });
    }
    let file = tf.dir().join(TFVARS);
    if file.is_file() {
        return Ok(file);
    }
    Err(TfvarsMissing::Default(
        UserError::usage(
            format!("{} does not exist", file.display()),
            tfvars_help(tf, &file),
        )
        .into(),
    ))
}

pub(super) fn tfvars_help(tf: &Terraform<'_>, file: &Path) -> String {
    format!(
        "copy {} to {} and edit it, or pass --var-file {}/environments/dev.tfvars",
        tf.dir().join(TFVARS_EXAMPLE).display(),
        file.display(),
        tf.dir().display()
    )
}

/// The tfvars file to use: `--var-file`, TFVARS_FILE, or terraform/terraform.tfvars — which
/// an interactive run offers to create from the example.
pub(super) fn var_file(
    tf: &Terraform<'_>,
    args: &TerraformOptions,
    settings: &Settings,
    prompter: &dyn Prompter,
) -> Result<PathBuf> {
    let file = match tfvars_path(tf, args, settings) {
        Ok(file) => return Ok(file),
        Err(TfvarsMissing::Given(e)) => return Err(e),
        Err(TfvarsMissing::Default(e)) if !prompter.interactive() => return Err(e),
        Err(TfvarsMissing::Default(_)) => tf.dir().join(TFVARS),
    };
    let example = tf.dir().join(TFVARS_EXAMPLE);
    let help = tfvars_help(tf, &file);
    prompter.say(&format!("{} does not exist.", file.display()));
    if !prompter.confirm(&format!(
        "Copy {} there and open it in {}?",
        TFVARS_EXAMPLE,
        settings.editor.as_deref().unwrap_or("vi")
    ))? {
        return Err(UserError::usage("no Terraform variables file", help).into());
    }
    std::fs::copy(&example, &file)
        .with_context(|| format!("copying {} to {}", example.display(), file.display()))?;
    edit(settings, &file)?;
    Ok(file)
}

/// Open `file` in VISUAL/EDITOR (or vi), with the terminal handed over.
pub(super) fn edit(settings: &Settings, file: &Path) -> Result<()> {
    let editor = settings.editor.clone().unwrap_or_else(|| "vi".into());
    let mut words = editor.split_whitespace();
    let program = words.next().unwrap_or("vi");
    let mut cmd = std::process::Command::new(program);
    for k in crate::platform::tools::NEVER_INHERITED
        .iter()
        .chain(crate::platform::tools::AWS_CREDENTIALS)
    {
        cmd.env_remove(k);
    }
    let status = cmd.args(words).arg(file).status().map_err(|e| {
        UserError::failed(
            format!("could not start the editor `{editor}`: {e}"),
            format!(
                "set VISUAL or EDITOR, or edit {} yourself and re-run",
                file.display()
            ),
        )
    })?;
    if !status.success() {
        return Err(UserError::failed(
            format!("the editor `{editor}` exited with {status}"),
            format!("edit {} and re-run", file.display()),
        )
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod admin_tests {
    use super::*;

    fn check_cluster_admins(f: &Path, caller: Option<&str>) -> Result<()> {
        let text = std::fs::read_to_string(f).unwrap();
        check_admin_list(f, &hcl_list(&text, "cluster_admin_arns").unwrap(), caller)
    }

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t.tfvars");
        std::fs::write(&f, text).unwrap();
        (dir, f)
    }

    #[test]
    fn lists_are_read_on_one_line_or_several() {
        let t = "a = 1\ncluster_admin_arns = [\n  \"arn:aws:iam::1:role/x\", # ops\n  # \"arn:aws:iam::1:role/commented\"\n  \"arn:aws:iam::1:user/y\"\n]\n";
        assert_eq!(
            hcl_list(t, "cluster_admin_arns").unwrap(),
            ["arn:aws:iam::1:role/x", "arn:aws:iam::1:user/y"]
        );
        assert_eq!(
            hcl_list("cluster_admin_arns = []", "cluster_admin_arns").unwrap(),
            Vec::<String>::new()
        );
        assert!(hcl_list("# cluster_admin_arns = [\"x\"]", "cluster_admin_arns").is_none());
    }

    #[test]
    fn session_arns_duplicates_and_the_creator_are_refused() {
        let (_d, f) =
            file("cluster_admin_arns = [\"arn:aws:sts::111122223333:assumed-role/Admin/alice\"]\n");
        let e = check_cluster_admins(&f, None).unwrap_err().to_string();
        assert!(e.contains("a role session"), "{e}");
        let e = check_cluster_admins(&f, None).unwrap_err();
        let help = e.downcast_ref::<UserError>().unwrap().help.clone().unwrap();
        assert!(
            help.contains("`arn:aws:iam::111122223333:role/Admin`"),
            "{help}"
        );

        let (_d, f) = file(
            "cluster_admin_arns = [\"arn:aws:iam::111122223333:role/Ops\", \"arn:aws:iam::111122223333:role/ops\"]\n",
        );
        assert!(
            check_cluster_admins(&f, None)
                .unwrap_err()
                .to_string()
                .contains("twice")
        );

        let (_d, f) =
            file("cluster_admin_arns = [\"arn:aws:iam::111122223333:role/team/Platform\"]\n");
        let me = "arn:aws:sts::111122223333:assumed-role/Platform/bob";
        let e = check_cluster_admins(&f, Some(me)).unwrap_err().to_string();
        assert!(e.contains("the identity running Terraform"), "{e}");
        // Another role, or the same name in another account, is fine.
        assert!(
            check_cluster_admins(&f, Some("arn:aws:sts::111122223333:assumed-role/Other/bob"))
                .is_ok()
        );
        assert!(
            check_cluster_admins(
                &f,
                Some("arn:aws:sts::999999999999:assumed-role/Platform/bob")
            )
            .is_ok()
        );
        assert!(check_cluster_admins(&f, Some("arn:aws:iam::111122223333:user/Platform")).is_ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tfvars_values_fall_back_to_the_variable_default() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("variables.tf"),
            "variable \"create_bastion\" {\n  type    = bool\n  default = true\n}\n\nvariable \"endpoint_public_access\" {\n  type = bool\n  default = false # private\n}\n\nvariable \"no_default\" {\n  type = string\n}\n\nvariable \"later\" {\n  default = \"x\"\n}\n",
        )
        .unwrap();
        let vars = dir.path().join("t.tfvars");
        std::fs::write(
            &vars,
            "kubernetes_version = \"1.35\" # pinned\ncreate_bastion = false\n",
        )
        .unwrap();
        assert_eq!(hcl_value("a = \"b\" # c", "a").as_deref(), Some("b"));
        let get = |n: &str| tfvar(dir.path(), &vars, n).map(|(v, _)| v);
        assert_eq!(get("kubernetes_version").as_deref(), Some("1.35"));
        assert_eq!(get("create_bastion").as_deref(), Some("false"));
        assert_eq!(get("endpoint_public_access").as_deref(), Some("false"));
        // A variable without a default never borrows the next one's.
        assert_eq!(get("no_default"), None);

        let settings = |access: &str| {
            Settings::resolve(
                &Default::default(),
                &crate::config::Env::from_pairs([("API_ACCESS", access)]),
                crate::config::Terminal {
                    stdin: false,
                    stdout: false,
                    stderr: false,
                },
            )
            .unwrap()
        };
        // Private endpoint, no bastion: `complete` could not reach the cluster.
        let err = check_api_path(dir.path(), &vars, &settings("auto")).unwrap_err();
        let help = crate::error::help_of(&err).unwrap();
        assert!(
            help.contains("create_bastion = true") && help.contains("public_access_cidrs"),
            "{help}"
        );
        // The operator's own way in.
        assert!(check_api_path(dir.path(), &vars, &settings("direct")).is_ok());
        assert!(check_api_path(dir.path(), &vars, &settings("tunnel")).is_ok());
        // With the bastion (the default) it is fine.
        std::fs::write(&vars, "").unwrap();
        assert!(check_api_path(dir.path(), &vars, &settings("auto")).is_ok());
    }
}
