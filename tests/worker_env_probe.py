"""A driver that starts tamis's RayExecutor and prints what one of its Ray workers sees: the
ARROW_DEFAULT_MEMORY_POOL variable and the Arrow allocator in use (run by tests/test_submit.py,
locally, as a submitted job and as a driver joining a cluster)."""

from __future__ import annotations

import json
import os

import pyarrow as pa

from pipeline.run.ray_executor import RayExecutor


def worker_arrow() -> dict[str, str | None]:
    """The worker's allocator setting and the pool Arrow chose from it."""
    pool = pa.default_memory_pool().backend_name
    return {"env": os.environ.get("ARROW_DEFAULT_MEMORY_POOL"), "pool": pool}


if __name__ == "__main__":
    RayExecutor(num_cpus=1)  # imports ray itself, after choosing how to authenticate
    import ray

    answer = ray.get(ray.remote(num_cpus=1)(worker_arrow).remote())
    print("worker arrow:", json.dumps(answer))
