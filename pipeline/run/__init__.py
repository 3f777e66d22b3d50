"""Running a recipe: stages, the local and Ray executors, progress, manifest and score reuse."""
