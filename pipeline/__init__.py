"""tamis's engine: recipes and steps (core/), inputs and outputs (io/), runners (run/), global
steps (global_steps/, dedup/) and cluster jobs (cluster/); `pipeline.cli` is the command line."""
