"""Ray job entrypoint: run a recipe on the Ray cluster this job was submitted to.

    ray job submit --address http://HEAD:8265 --working-dir . -- \
        python -m jobs.curate configs/web-en.yaml

Progress goes to the job's logs as plain lines (rows/s and ETA per stage, each global decision).
If the job dies (driver killed, head restarted), wait until it is FAILED or STOPPED and submit
the same command again: it resumes from the shards and decisions already committed.
"""

from __future__ import annotations

import sys

from pipeline.cli import main


def curate(argv: list[str]) -> int:
    """`tamis run RECIPE --runner ray` with the job's arguments."""
    return main(["run", *argv, "--runner", "ray"])


if __name__ == "__main__":
    sys.exit(curate(sys.argv[1:]))
