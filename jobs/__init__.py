"""Ray job entrypoints for clusters (`python -m jobs.curate RECIPE`)."""
