"""The datasets an API request may name: folders and files under evals/datasets and ../shared/data.

A request names a dataset, never a path, so nothing outside these folders can be read through the API.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from evals.loaders import MEETINGS_MARKER, PROJECT_FILES, PROJECT_SUFFIXES, DatasetError

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_ROOTS = (REPO_ROOT / "evals" / "datasets", REPO_ROOT.parent / "shared" / "data")


def _is_dataset_dir(path: Path) -> bool:
    if (path / MEETINGS_MARKER).is_file():
        return False  # measured through the API by `v1tr0 eval meetings`, not by queued runs
    if (path / "corpus.jsonl").exists() or any(path.glob("*.json")):
        return True
    if any((path / name).exists() for name in PROJECT_FILES):
        return True
    return any(child.is_dir() and any(child.glob("*.json")) for child in path.iterdir())


def available_datasets(roots: Sequence[Path] = DATA_ROOTS) -> dict[str, Path]:
    """Dataset name -> path; a name found under an earlier root wins."""
    found: dict[str, Path] = {}
    for root in roots:
        if not root.is_dir():
            continue
        for child in sorted(root.iterdir()):
            if child.name.startswith((".", "_")):
                continue
            if child.is_dir() and _is_dataset_dir(child):
                found.setdefault(child.name, child)
            elif child.is_file() and child.suffix in PROJECT_SUFFIXES:
                found.setdefault(child.stem, child)
    return found


def resolve_dataset(name: str, roots: Sequence[Path] = DATA_ROOTS) -> Path:
    datasets = available_datasets(roots)
    if name not in datasets:
        raise DatasetError(f"unknown dataset {name!r}; available: {', '.join(sorted(datasets)) or 'none'}")
    return datasets[name]
