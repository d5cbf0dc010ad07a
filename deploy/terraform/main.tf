locals {
  services = toset([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudresourcemanager.googleapis.com", # project IAM bindings below
    "dataflow.googleapis.com",
    "iam.googleapis.com", # the worker service account
    "pubsub.googleapis.com",
    "storage.googleapis.com",
  ])
}

resource "google_project_service" "apis" {
  for_each           = local.services
  service            = each.value
  disable_on_destroy = false
}

# --- Pub/Sub: where the job publishes ---------------------------------------------------

resource "google_pubsub_topic" "stories" {
  name                       = var.stories_topic
  message_retention_duration = "604800s"
  depends_on                 = [google_project_service.apis]
}

resource "google_pubsub_topic" "dead_letters" {
  name                       = var.dead_letter_topic
  message_retention_duration = "604800s"
  depends_on                 = [google_project_service.apis]
}

# An example of what a downstream team subscribes to: only stories that newsbeam tagged
# with both the platform TikTok and the state actor China (message attributes).
resource "google_pubsub_subscription" "tiktok_china" {
  name                       = "${var.stories_topic}-tiktok-china"
  topic                      = google_pubsub_topic.stories.id
  filter                     = "attributes:platform_tiktok AND attributes:state_china"
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = "" # never expires
  }
}

# Everything each topic carries, unfiltered: every story, and every dead letter (read with
# `gcloud pubsub subscriptions pull`, deploy/README.md step 5). A subscription nobody reads
# keeps each message for 7 days, then drops it.
resource "google_pubsub_subscription" "all_stories" {
  name                       = "${var.stories_topic}-all"
  topic                      = google_pubsub_topic.stories.id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = "" # never expires
  }
}

resource "google_pubsub_subscription" "all_dead_letters" {
  name                       = "${var.dead_letter_topic}-all"
  topic                      = google_pubsub_topic.dead_letters.id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = "" # never expires
  }
}

# --- Cloud Storage: the feed list, templates, staging and temp files, the job's out/ ---

resource "google_storage_bucket" "staging" {
  name                        = var.bucket
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true # `terraform destroy` also removes staged files

  versioning {
    enabled = true
  }

  # Only temp/ ages out. staging/ has no age rule on purpose: each launch stages, under
  # staging/<job name>.<time>/, the worker package Beam builds from pyproject.toml
  # (FLEX_TEMPLATE_PYTHON_SETUP_FILE: workflow.tar.gz), submission_environment_dependencies.txt
  # and pipeline.pb. The job lists the staged files' gs:// URLs, and every SDK harness that
  # starts for as long as the job runs (a worker added by autoscaling, a VM replaced, a
  # harness restarted) downloads them and pip-installs workflow.tar.gz, although the image
  # already holds the package: deleted, they stop a long-running streaming job's new workers
  # from starting. Remove a folder by hand once no job launched from it runs (README, step 7).
  lifecycle_rule {
    condition {
      age            = var.temp_retention_days
      matches_prefix = ["temp/"]
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.temp_retention_days
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

# --- Artifact Registry: the one image (worker + template launcher) ----------------------

resource "google_artifact_registry_repository" "images" {
  location      = var.region
  repository_id = var.repository
  format        = "DOCKER"
  description   = "newsbeam worker and Flex Template launcher images"
  depends_on    = [google_project_service.apis]
}

# --- The worker service account and its least privileges --------------------------------

resource "google_service_account" "worker" {
  account_id   = "newsbeam-worker"
  display_name = "newsbeam Dataflow worker"
  description  = "Runs the newsbeam Flex Template launcher and Dataflow workers."
  depends_on   = [google_project_service.apis]
}

locals {
  worker = "serviceAccount:${google_service_account.worker.email}"
}

# Project level only what Dataflow itself requires of a worker. Google's Flex Template guide
# also lists roles/viewer (project-wide read) for the launcher and worker account; it is left
# out on purpose (deploy/README.md, "Who needs which role": unverified offline).
resource "google_project_iam_member" "worker_dataflow" {
  project    = var.project
  role       = "roles/dataflow.worker"
  member     = local.worker
  depends_on = [google_project_service.apis]
}

# Publish to the two topics, and nothing else in Pub/Sub.
resource "google_pubsub_topic_iam_member" "worker_publishes_stories" {
  topic  = google_pubsub_topic.stories.id
  role   = "roles/pubsub.publisher"
  member = local.worker
}

resource "google_pubsub_topic_iam_member" "worker_publishes_dead_letters" {
  topic  = google_pubsub_topic.dead_letters.id
  role   = "roles/pubsub.publisher"
  member = local.worker
}

# Read and write objects in the staging bucket only.
resource "google_storage_bucket_iam_member" "worker_staging" {
  bucket = google_storage_bucket.staging.name
  role   = "roles/storage.objectAdmin"
  member = local.worker
}

# Pull the image from this repository only.
resource "google_artifact_registry_repository_iam_member" "worker_pulls" {
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.reader"
  member     = local.worker
}

# Who builds the image: Cloud Build's service account pushes it to this repository only
# (`gcloud builds get-default-service-account` names it; deploy/README.md, step 1).
resource "google_artifact_registry_repository_iam_member" "builders_push" {
  for_each   = toset(var.builders)
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = each.value
}

# Who may start jobs that run as the worker account (needed by `gcloud dataflow ... run`).
resource "google_service_account_iam_member" "launchers" {
  for_each           = toset(var.launchers)
  service_account_id = google_service_account.worker.name
  role               = "roles/iam.serviceAccountUser"
  member             = each.value
}
