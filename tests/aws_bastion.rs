//! `deployctl bastion create | connect | cleanup` against moto's server.

mod support;

use aws_sdk_ec2::types::Filter;
use support::Sandbox;
use support::moto::{Moto, seed_cluster};
use support::ssm_proxy::SsmProxy;

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

async fn live_instances(ec2: &aws_sdk_ec2::Client) -> Vec<aws_sdk_ec2::types::Instance> {
    ec2.describe_instances()
        .filters(filter("tag:Name", "llm-bastion"))
        .send()
        .await
        .unwrap()
        .reservations()
        .iter()
        .flat_map(|r| r.instances().to_vec())
        .filter(|i| i.state().and_then(|s| s.name()).map(|n| n.as_str()) != Some("terminated"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn create_connect_and_cleanup_leave_nothing_behind() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    let seeded = seed_cluster(&sdk, support::CLUSTER, true).await;
    let proxy = SsmProxy::start(&moto.url).await;
    let mut sb = Sandbox::bare();
    sb.with_moto(moto);
    sb.set("AWS_ENDPOINT_URL_SSM", &proxy.url);
    sb.set(
        "DATABASE_URL",
        "postgresql://u:never-inherited@db.example:5432/litellm",
    );
    let plugin_log = sb.path().join("plugin-args.txt");
    let plugin = sb.bin.join("session-manager-plugin");
    std::fs::write(
        &plugin,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > '{}'\nenv > '{}.env'\n",
            plugin_log.display(),
            plugin_log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();

    // create
    let run = sb.run(&["bastion", "create"]).await;
    run.assert_code(0);
    assert!(
        run.stderr
            .contains("does not implement SSM DescribeInstanceInformation"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("aws ssm describe-instance-information"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("does not implement EKS access entries"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("aws eks create-access-entry"),
        "{}",
        run.stderr
    );

    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let instances = live_instances(&ec2).await;
    assert_eq!(instances.len(), 1);
    let inst = &instances[0];
    let id = inst.instance_id().unwrap().to_string();
    let md = inst.metadata_options().unwrap();
    assert_eq!(md.http_tokens().map(|t| t.as_str()), Some("required"));
    assert_eq!(md.http_put_response_hop_limit(), Some(2));
    // The user data installs kubectl of the cluster's minor version, checksum-verified.
    let user_data = ec2
        .describe_instance_attribute()
        .instance_id(inst.instance_id().unwrap())
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .unwrap()
        .user_data
        .and_then(|u| u.value)
        .expect("the bastion has user data");
    let script =
        String::from_utf8(deployctl::encoding::decode(&user_data).expect("base64")).unwrap();
    assert!(
        script.contains(&format!(
            "https://dl.k8s.io/release/stable-{}.txt",
            support::moto::KUBERNETES_VERSION
        )),
        "{script}"
    );
    assert!(script.contains("sha256sum --check"), "{script}");
    assert!(!script.contains("{{"), "a placeholder is left: {script}");
    assert!(
        seeded
            .subnet_ids
            .contains(&inst.subnet_id().unwrap().to_string())
    );
    let tags: Vec<(&str, &str)> = inst
        .tags()
        .iter()
        .map(|t| (t.key().unwrap(), t.value().unwrap()))
        .collect();
    assert!(tags.contains(&("Purpose", "llm-bastion")), "{tags:?}");
    assert!(
        inst.iam_instance_profile()
            .unwrap()
            .arn()
            .unwrap()
            .ends_with("instance-profile/llm-bastion-profile")
    );
    let sgs = ec2
        .describe_security_groups()
        .filters(filter("group-name", "llm-bastion-sg"))
        .send()
        .await
        .unwrap();
    let sg = &sgs.security_groups()[0];
    assert!(
        sg.ip_permissions().is_empty(),
        "the bastion's group allows ingress"
    );
    assert_eq!(sg.vpc_id(), Some(seeded.vpc_id.as_str()));
    let iam = aws_sdk_iam::Client::new(&sdk);
    let attached = iam
        .list_attached_role_policies()
        .role_name("llm-bastion-ssm-role")
        .send()
        .await
        .unwrap();
    assert!(attached.attached_policies().iter().any(|p| {
        p.policy_arn()
            .unwrap()
            .ends_with("AmazonSSMManagedInstanceCore")
    }));

    // A second create reuses the instance.
    let run = sb.run(&["bastion", "create"]).await;
    run.assert_code(0);
    assert!(
        run.stdout.contains(&format!("Reusing bastion {id}")),
        "{}",
        run.stdout
    );
    assert_eq!(live_instances(&ec2).await.len(), 1);

    // connect: the plugin receives the session for that instance.
    sb.run(&["bastion", "connect"]).await.assert_code(0);
    let args: Vec<String> = std::fs::read_to_string(&plugin_log)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    // The session token travels in the environment, never in argv (visible in `ps`).
    assert_eq!(args[0], "AWS_SSM_START_SESSION_RESPONSE", "{args:?}");
    assert!(
        !args.iter().any(|a| a.contains("session-token-for-tests")),
        "{args:?}"
    );
    let env = std::fs::read_to_string(format!("{}.env", plugin_log.display())).unwrap();
    let response = env
        .lines()
        .find_map(|l| l.strip_prefix("AWS_SSM_START_SESSION_RESPONSE="))
        .expect("the session response in the plugin's environment");
    assert!(
        response.contains("deployctl-test-0123456789abcdef0"),
        "{response}"
    );
    assert!(response.contains("session-token-for-tests"), "{response}");
    assert!(
        !env.contains("DATABASE_URL"),
        "a secret variable reached the plugin"
    );
    assert_eq!(args[1], "us-east-1");
    assert_eq!(args[2], "StartSession");
    assert!(args[4].contains(&id), "{args:?}");
    assert_eq!(proxy.sessions.lock().unwrap()[0]["Target"], id.as_str());

    // connect without the plugin: a clear error.
    std::fs::remove_file(&plugin).unwrap();
    let run = sb.run(&["bastion", "connect"]).await;
    run.assert_code(1);
    assert!(
        run.stderr.contains("session-manager-plugin"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("install"), "{}", run.stderr);

    // cleanup: nothing left; a second cleanup is fine.
    sb.run(&["bastion", "cleanup"]).await.assert_code(0);
    assert!(live_instances(&ec2).await.is_empty());
    assert!(
        iam.get_role()
            .role_name("llm-bastion-ssm-role")
            .send()
            .await
            .is_err()
    );
    assert!(
        iam.get_instance_profile()
            .instance_profile_name("llm-bastion-profile")
            .send()
            .await
            .is_err()
    );
    let sgs = ec2
        .describe_security_groups()
        .filters(filter("group-name", "llm-bastion-sg"))
        .send()
        .await
        .unwrap();
    assert!(sgs.security_groups().is_empty());
    sb.run(&["bastion", "delete"]).await.assert_code(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_without_a_bastion_says_how_to_create_one() {
    let (moto, _guard) = Moto::lock().await;
    let mut sb = Sandbox::bare();
    sb.with_moto(moto);
    let run = sb.run(&["bastion", "connect"]).await;
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("no running bastion named `llm-bastion`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("deployctl bastion create"),
        "{}",
        run.stderr
    );
}
