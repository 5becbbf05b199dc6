# An SSM-only bastion (no inbound rules, no key pair) with cluster-admin access, the same
# machine `deployctl bastion create` builds, for teams that keep it in Terraform.

data "aws_ssm_parameter" "al2023" {
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}

data "aws_service_principal" "ec2" {
  service_name = "ec2"
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = [data.aws_service_principal.ec2.name]
    }
  }
}

resource "aws_iam_role" "this" {
  # At most 64 characters: a long name is cut and hashed (as in modules/eks).
  name               = length("${var.name}-bastion-role") <= 64 ? "${var.name}-bastion-role" : "${substr(var.name, 0, 42)}-${substr(sha256(var.name), 0, 8)}-bastion-role"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.this.name
  policy_arn = "arn:${var.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

data "aws_iam_policy_document" "eks_describe" {
  statement {
    actions   = ["eks:DescribeCluster"]
    resources = [var.cluster_arn]
  }
}

resource "aws_iam_role_policy" "eks_describe" {
  name   = "eks-describe"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.eks_describe.json
}

resource "aws_iam_instance_profile" "this" {
  name = "${var.name}-bastion-profile" # at most 128 characters: no cut needed
  role = aws_iam_role.this.name
}

resource "aws_security_group" "this" {
  name        = "${var.name}-bastion-sg"
  description = "Bastion: no inbound; HTTPS out for SSM, package mirrors and the EKS API"
  vpc_id      = var.vpc_id
  tags        = { Name = "${var.name}-bastion-sg" }
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.this.id
  description       = "HTTPS to SSM, package mirrors and the EKS API"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

# The private API endpoint from the bastion: 443 into the cluster security group, from the
# bastion's group only (the same rule `deployctl bastion create` adds).
resource "aws_vpc_security_group_ingress_rule" "api_from_bastion" {
  security_group_id            = var.cluster_security_group_id
  description                  = "EKS API from the bastion"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.this.id
}

# The database from the bastion, 5432 only, group to group: `deployctl infrastructure-verify`
# signs in with the stored credentials through an SSM forward via the bastion (the database is
# private). The bastion already holds cluster-admin kubectl, which reads the same credentials
# from the cluster, so this opens no new secret to it.
resource "aws_vpc_security_group_egress_rule" "database" {
  security_group_id            = aws_security_group.this.id
  description                  = "PostgreSQL to the stack's database"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = var.database_security_group_id
}

resource "aws_vpc_security_group_ingress_rule" "database_from_bastion" {
  security_group_id            = var.database_security_group_id
  description                  = "PostgreSQL from the bastion (infrastructure-verify)"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.this.id
}

resource "aws_instance" "this" {
  ami           = nonsensitive(data.aws_ssm_parameter.al2023.value)
  instance_type = var.instance_type
  subnet_id     = var.subnet_id
  # Its own group only: it reaches the private API through the rule below, and neither node
  # ports nor the database (the cluster group would open both).
  vpc_security_group_ids = [aws_security_group.this.id]
  iam_instance_profile   = aws_iam_instance_profile.this.name
  monitoring             = true
  ebs_optimized          = true

  # The same script `deployctl bastion create` renders.
  user_data = replace(replace(replace(
    file("${path.module}/user-data.sh.tmpl"),
    "{{REGION}}", var.region),
    "{{CLUSTER}}", var.cluster_name),
  "{{KUBERNETES_VERSION}}", var.kubernetes_version)

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_size = 20
    volume_type = "gp3"
    encrypted   = true
  }

  # Purpose + the default tag Cluster are how `deployctl bastion connect` finds it (as it
  # finds the one `bastion create` makes).
  tags = { Name = "${var.name}-bastion", Purpose = "llm-bastion" }

  lifecycle {
    ignore_changes = [ami]
  }
}

resource "aws_eks_access_entry" "this" {
  cluster_name  = var.cluster_name
  principal_arn = aws_iam_role.this.arn
}

resource "aws_eks_access_policy_association" "this" {
  cluster_name  = var.cluster_name
  principal_arn = aws_iam_role.this.arn
  policy_arn    = "arn:${var.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"

  access_scope {
    type = "cluster"
  }

  depends_on = [aws_eks_access_entry.this]
}
