# The shared weights cache: an encrypted EFS file system with a mount target in each private
# subnet, reachable on NFS from the nodes only. The root module makes it a StorageClass (efs-sc).

resource "aws_security_group" "efs" {
  name        = "${var.name}-efs"
  description = "NFS from the cluster's nodes to the weights cache"
  vpc_id      = aws_vpc.this.id

  ingress {
    description = "NFS from the VPC"
    from_port   = 2049
    to_port     = 2049
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr]
  }

  tags = merge(var.tags, { Name = "${var.name}-efs" })
}

resource "aws_efs_file_system" "models" {
  creation_token   = "${var.name}-models"
  encrypted        = true
  kms_key_id       = aws_kms_key.this.arn
  performance_mode = "generalPurpose"
  # Elastic throughput: loading weights reads gigabytes in bursts, then nothing for hours.
  throughput_mode = "elastic"

  lifecycle_policy {
    transition_to_ia = "AFTER_30_DAYS"
  }

  tags = merge(var.tags, { Name = "${var.name}-models" })
}

resource "aws_efs_backup_policy" "models" {
  file_system_id = aws_efs_file_system.models.id
  backup_policy {
    # Weights can always be pulled again.
    status = "DISABLED"
  }
}

resource "aws_efs_mount_target" "models" {
  count           = length(local.azs)
  file_system_id  = aws_efs_file_system.models.id
  subnet_id       = aws_subnet.private[count.index].id
  security_groups = [aws_security_group.efs.id]
}

# Image repositories for the two Skiff images: immutable tags, scanned on push, KMS-encrypted.
resource "aws_ecr_repository" "image" {
  for_each             = toset(["skiff", "skiff-chat"])
  name                 = "${var.name}/${each.key}"
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.this.arn
  }

  tags = var.tags
}
