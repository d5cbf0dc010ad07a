# newsbeam on Dataflow: the cloud resources the streaming job publishes to and runs as.
# Apply with `terraform init && terraform apply -var project=... -var region=...`
# (see deploy/README.md, step 1).

terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0, < 8.0"
    }
  }
}

provider "google" {
  project = var.project
  region  = var.region
}
