# The Gradient installer's Terraform (its gradient-metal module), the way an install host keeps
# it. `wildcert init` takes the certificate settings over from it:
#
#   wildcert init --from-terraform main.tf --var-file secrets.tfvars --team TEAM_ID
#
# It reads `domain`, `letsencrypt_dns_name` + `letsencrypt_dns_settings` (or `tls_cert` +
# `tls_key`, usually `file("...")`), `artifacts_path`, `artifacts_access_key_id`,
# `artifacts_secret_access_key`, `artifacts_object_storage_endpoint` and `aws_region`; the rest
# is left alone. The secrets below come from gradient-installer.tfvars (example values).

variable "cluster_apikey" {
  description = "Gradient cluster API key"
  sensitive   = true
}

variable "artifacts_secret_access_key" {
  description = "Secret key of the bucket's restricted IAM user"
  sensitive   = true
}

variable "tsig_secret" {
  description = "TSIG secret of the key BIND grants TXT updates to"
  sensitive   = true
}

variable "domain" {
  default = "gradient.example.com"
}

module "gradient_metal" {
  source = "github.com/Paperspace/gradient-installer?ref=master/gradient-metal"

  name           = "gradient-cluster"
  cluster_handle = "clu8xq2vz"
  cluster_apikey = var.cluster_apikey
  domain         = var.domain

  artifacts_access_key_id     = "AKIAIOSFODNN7EXAMPLE"
  artifacts_path              = "s3://gradient-artifacts"
  artifacts_secret_access_key = var.artifacts_secret_access_key

  letsencrypt_dns_name = "rfc2136"
  letsencrypt_dns_settings = {
    RFC2136_NAMESERVER     = "10.0.0.53"
    RFC2136_TSIG_KEY       = "wildcert."
    RFC2136_TSIG_ALGORITHM = "hmac-sha256."
    RFC2136_TSIG_SECRET    = var.tsig_secret
    RFC2136_TTL            = "60"
  }

  # A supplied certificate instead (the installer then skips Let's Encrypt, and so does wildcert):
  # tls_cert = file("certs/gradient.crt")
  # tls_key  = file("certs/gradient.key")

  k8s_master_node = {
    ip        = "10.0.0.10"
    pool-type = "cpu"
    pool-name = "metal-cpu"
  }
  k8s_workers = [
    { ip = "10.0.0.11", pool-type = "gpu", pool-name = "metal-gpu" },
    { ip = "10.0.0.12", pool-type = "cpu", pool-name = "metal-cpu" },
  ]
  shared_storage_path   = "/srv/gradient"
  shared_storage_server = "nfs.gradient.example.com"
  ssh_key_path          = "gradient_rsa"
  ssh_user              = "ubuntu"
}
