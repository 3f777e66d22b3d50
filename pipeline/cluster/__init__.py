"""Running on a Ray cluster: job submission and the cluster's auth token."""
