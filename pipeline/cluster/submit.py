"""Submit a recipe as a Ray job (`tamis submit`): upload the project, stream logs, return status."""

from __future__ import annotations

import asyncio
import logging
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from pipeline.cluster.auth import use_cluster_token
from pipeline.core.errors import TamisError, first_line
from pipeline.core.recipe import load_recipe
from pipeline.core.registry import imported_modules
from pipeline.io.storage import check_scheme, redacted

log = logging.getLogger(__name__)

# Never uploaded with the working directory: environments, outputs, build trees, training data.
EXCLUDES = [
    ".venv",
    ".bench-venv",
    ".git",
    "out",
    "build",
    "models/data",
    "**/__pycache__",
    ".pytest_cache",
]


def runtime_env(pip: list[str] | None, env: dict[str, str]) -> dict[str, Any]:
    """The job's runtime environment: this folder as working dir, pip packages, env vars."""
    from pipeline.run.ray_executor import WORKER_ENV

    env_vars = {**WORKER_ENV, **env}
    spec: dict[str, Any] = {"working_dir": ".", "excludes": EXCLUDES, "env_vars": env_vars}
    if pip:
        spec["pip"] = pip
    return spec


def entrypoint(recipe: str, output: str | None, extra: list[str]) -> str:
    """The job's command: the `jobs.curate` entrypoint with the recipe and its options."""
    args = [recipe, *(["--output", output] if output else []), *extra]
    return " ".join(["python", "-m", "jobs.curate", *map(shlex.quote, args)])


def submit(
    recipe: str,
    address: str,
    output: str | None = None,
    pip: list[str] | None = None,
    env: dict[str, str] | None = None,
    extra: list[str] | None = None,
    wait: bool = True,
) -> int:
    """Submit the job, print its id, stream its logs if `wait`; returns 0 if it succeeded."""
    use_cluster_token()  # before importing ray, which reads its auth mode once
    from ray.job_submission import JobStatus, JobSubmissionClient

    parsed = load_recipe(recipe, output_path=output)  # fail here, not on the cluster
    target = parsed.output.path
    check_scheme(target)  # fails here, in one line, not on the cluster (the store is not asked)
    if "://" not in target and not Path(target).is_absolute():
        # A relative path would land in the job's temporary copy of the working dir.
        target = str(Path(target).resolve())
    try:
        client = JobSubmissionClient(address)
    except Exception as err:  # unreachable, refused, unauthorised: one line with the cause
        raise TamisError(
            f"cannot submit to the Ray cluster at {address}: {first_line(err)}"
        ) from None
    job = _submit_when_ready(
        client,
        entrypoint=entrypoint(_uploaded_path(recipe), target, extra or []),
        runtime_env=runtime_env(pip, env or {}),
    )
    print(f"submitted job {job} to {address}; output: {redacted(target)}", flush=True)
    if not wait:
        return 0
    asyncio.run(_stream(client, job))
    status = client.get_job_status(job)
    print(f"job {job}: {status.value}", flush=True)
    return 0 if status == JobStatus.SUCCEEDED else 1


def _uploaded_path(recipe: str) -> str:
    """The recipe's path inside the uploaded working dir (the current folder), where the job
    finds it; a recipe or imported module outside it must be on a filesystem every node
    shares, which this says."""
    here = Path.cwd().resolve()
    outside = [Path(recipe).resolve()] + [
        Path(m.__file__).resolve()
        for m in imported_modules()
        if getattr(m, "__file__", None) and "site-packages" not in Path(m.__file__).parts
    ]
    for path in outside:
        if not path.is_relative_to(here):
            log.warning(
                "%s is outside %s, which is what the job uploads: every node must see it at "
                "that path (a shared filesystem)",
                path,
                here,
            )
    resolved = Path(recipe).resolve()
    return str(resolved.relative_to(here)) if resolved.is_relative_to(here) else str(resolved)


def _submit_when_ready(client: Any, wait_s: float = 90, **job: Any) -> str:
    """Submit, retrying while a freshly started head has no job agent yet."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return client.submit_job(**job)
        except RuntimeError as err:
            if "No available agent" not in str(err) or time.monotonic() > deadline:
                raise TamisError(f"job submission failed: {first_line(err)}") from None
            time.sleep(2)


async def _stream(client: Any, job: str) -> None:
    """Copy the job's log lines to stdout until it ends."""
    async for lines in client.tail_job_logs(job):
        sys.stdout.write(lines)
        sys.stdout.flush()
