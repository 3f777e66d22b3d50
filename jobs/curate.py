"""Ray job entrypoint: run a recipe on the Ray cluster this job was submitted to.

    ray job submit --address http://HEAD:8265 --working-dir . -- \
        python -m jobs.curate configs/web-en.yaml
"""

from __future__ import annotations

import sys

from pipeline.cli import main


def curate(argv: list[str]) -> int:
    """`tamis run RECIPE --runner ray` with the job's arguments."""
    return main(["run", *argv, "--runner", "ray"])


if __name__ == "__main__":
    sys.exit(curate(sys.argv[1:]))
