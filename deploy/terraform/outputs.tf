output "stories_topic" {
  description = "Pass as --topic (projects/P/topics/T)."
  value       = google_pubsub_topic.stories.id
}

output "dead_letter_topic" {
  description = "Pass as --dead_letter_topic (projects/P/topics/T)."
  value       = google_pubsub_topic.dead_letters.id
}

output "example_subscription" {
  description = "A filtered subscription: only stories tagged TikTok and China."
  value       = google_pubsub_subscription.tiktok_china.id
}

output "all_stories_subscription" {
  description = "Every story published, unfiltered."
  value       = google_pubsub_subscription.all_stories.id
}

output "all_dead_letters_subscription" {
  description = "Every dead letter published, unfiltered."
  value       = google_pubsub_subscription.all_dead_letters.id
}

output "bucket" {
  description = "Staging bucket, as gs://NAME."
  value       = google_storage_bucket.staging.url
}

output "image_repository" {
  description = "Docker repository path for the image (REGION-docker.pkg.dev/PROJECT/REPOSITORY)."
  value       = "${var.region}-docker.pkg.dev/${var.project}/${google_artifact_registry_repository.images.repository_id}"
}

output "worker_service_account" {
  description = "Pass as --service_account_email (gcloud: --service-account-email)."
  value       = google_service_account.worker.email
}
