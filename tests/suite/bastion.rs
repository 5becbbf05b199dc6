//! `deployctl bastion create | connect | cleanup` against moto's server.

use crate::support;

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
    // The cluster security group EKS makes (moto's DescribeCluster leaves it out).
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let cluster_sg = ec2
        .create_security_group()
        .group_name("eks-cluster-sg-test-cluster")
        .description("EKS created security group")
        .vpc_id(&seeded.vpc_id)
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    // The stack's database: an RDS instance in its own group, named by the stored URL.
    let db_sg = ec2
        .create_security_group()
        .group_name("litellm-dev-rds-sg")
        .description("PostgreSQL from the EKS cluster only")
        .vpc_id(&seeded.vpc_id)
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    let address = support::moto::postgres_instance(&sdk, "litellm-dev-db", "Never-Shown-Pw", |r| {
        r.vpc_security_group_ids(&db_sg)
    })
    .await;
    aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name("litellm/database-url")
        .secret_string(format!(
            "postgresql://litellm:Never-Shown-Pw@{address}:5432/litellm?sslmode=require"
        ))
        .send()
        .await
        .unwrap();
    let eks = support::eks_front::EksFront::start(&moto.url, "https://unused.example");
    eks.set_cluster_security_group(&cluster_sg);
    let mut sb = Sandbox::bare();
    sb.with_moto(moto);
    sb.set("AWS_ENDPOINT_URL_SSM", &proxy.url);
    sb.set("AWS_ENDPOINT_URL_EKS", &eks.url);
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

    let instances = live_instances(&ec2).await;
    assert_eq!(instances.len(), 1);
    let inst = &instances[0];
    let id = inst.instance_id().unwrap().to_string();
    let md = inst.metadata_options().unwrap();
    assert_eq!(md.http_tokens().map(|t| t.as_str()), Some("required"));
    // As the Terraform bastion.
    assert_eq!(md.http_put_response_hop_limit(), Some(1));
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
        String::from_utf8(deployctl::platform::encoding::decode(&user_data).expect("base64"))
            .unwrap();
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
    assert!(tags.contains(&("Cluster", support::CLUSTER)), "{tags:?}");
    assert!(
        inst.iam_instance_profile()
            .unwrap()
            .arn()
            .unwrap()
            .ends_with("instance-profile/test-cluster-llm-bastion-profile")
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
    // The private API: 443 from the bastion's group into the cluster group, and nothing else.
    let bastion_sg = sg.group_id().unwrap().to_string();
    let cluster_rules = |ec2: aws_sdk_ec2::Client, id: String| async move {
        ec2.describe_security_groups()
            .group_ids(id)
            .send()
            .await
            .unwrap()
            .security_groups()[0]
            .ip_permissions()
            .iter()
            .flat_map(|p| {
                p.user_id_group_pairs().iter().map(move |g| {
                    (
                        p.ip_protocol().unwrap_or_default().to_string(),
                        p.from_port(),
                        p.to_port(),
                        g.group_id().unwrap_or_default().to_string(),
                    )
                })
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        cluster_rules(ec2.clone(), cluster_sg.clone()).await,
        [("tcp".to_string(), Some(443), Some(443), bastion_sg.clone())]
    );
    // The database: 5432 from the bastion's group (infrastructure-verify signs in through it).
    assert_eq!(
        cluster_rules(ec2.clone(), db_sg.clone()).await,
        [(
            "tcp".to_string(),
            Some(5432),
            Some(5432),
            bastion_sg.clone()
        )]
    );
    assert!(!run.all().contains("Never-Shown-Pw"));
    let iam = aws_sdk_iam::Client::new(&sdk);
    let attached = iam
        .list_attached_role_policies()
        .role_name("test-cluster-llm-bastion-ssm-role")
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

    // Another cluster's bastion in the same account (same name): never touched.
    let other = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(1)
        .max_count(1)
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Instance)
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key("Name")
                        .value("llm-bastion")
                        .build(),
                )
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key("Purpose")
                        .value("llm-bastion")
                        .build(),
                )
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key("Cluster")
                        .value("other-cluster")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .instances()[0]
        .instance_id()
        .unwrap()
        .to_string();

    // cleanup: non-interactive needs the cluster's name, and the right one.
    let run = sb.run(&["bastion", "cleanup"]).await;
    run.assert_code(2);
    assert!(
        run.all().contains("--confirm-destroy test-cluster"),
        "{}",
        run.all()
    );
    let run = sb
        .run(&["bastion", "cleanup", "--confirm-destroy", "other-cluster"])
        .await;
    run.assert_code(2);
    assert!(run.all().contains("does not match"), "{}", run.all());
    assert_eq!(live_instances(&ec2).await.len(), 2, "something was removed");

    // cleanup: nothing of this cluster's left (the other cluster's bastion stays); a second
    // cleanup is fine.
    sb.run(&["bastion", "cleanup", "--confirm-destroy", support::CLUSTER])
        .await
        .assert_code(0);
    let left: Vec<String> = live_instances(&ec2)
        .await
        .iter()
        .map(|i| i.instance_id().unwrap().to_string())
        .collect();
    assert_eq!(left, [other], "cleanup went beyond this cluster's bastion");
    assert!(
        iam.get_role()
            .role_name("test-cluster-llm-bastion-ssm-role")
            .send()
            .await
            .is_err()
    );
    assert!(
        iam.get_instance_profile()
            .instance_profile_name("test-cluster-llm-bastion-profile")
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
    assert!(
        cluster_rules(ec2.clone(), cluster_sg.clone())
            .await
            .is_empty(),
        "the cluster group still admits the removed bastion"
    );
    assert!(
        cluster_rules(ec2.clone(), db_sg.clone()).await.is_empty(),
        "the database's group still admits the removed bastion"
    );
    sb.run(&["bastion", "delete", "--confirm-destroy", support::CLUSTER])
        .await
        .assert_code(0);
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
