variable "project" {
  description = "Google Cloud project ID that runs the job."
  type        = string
}

variable "region" {
  description = "Region for the bucket, the Artifact Registry repository and the Dataflow job."
  type        = string
}

variable "bucket" {
  description = "Name of the staging bucket (globally unique): templates, staging and temp files."
  type        = string
}

variable "repository" {
  description = "Artifact Registry Docker repository that holds the newsbeam image."
  type        = string
  default     = "newsbeam"
}

variable "stories_topic" {
  description = "Pub/Sub topic the job publishes tagged stories to (--topic)."
  type        = string
  default     = "tagged-stories"
}

variable "dead_letter_topic" {
  description = "Pub/Sub topic the job publishes dead letters to (--dead_letter_topic)."
  type        = string
  default     = "newsbeam-dead-letters"
}

variable "launchers" {
  description = "Principals allowed to launch jobs as the worker service account, e.g. [\"user:me@example.com\"]."
  type        = list(string)
  default     = []
}

variable "builders" {
  description = "Principals that push the image to the repository (roles/artifactregistry.writer on it only): the service account Cloud Build runs as, e.g. [\"serviceAccount:123-compute@developer.gserviceaccount.com\"]."
  type        = list(string)
  default     = []
}

variable "temp_retention_days" {
  description = "Objects under temp/ in the bucket (and noncurrent versions of any object) are deleted after this many days. staging/ is never aged out: a running job's new workers read it."
  type        = number
  default     = 14
}
