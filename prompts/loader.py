"""Prompt templates as files: one TOML file per task, with a name, a version and declared variables.

The loader checks at start-up that each template uses exactly the variables it declares, so a typo in
a prompt fails the deploy instead of a request. The effective version is the declared one plus a short
hash of the content, so an edited file that forgot to bump its version still records a new version.
"""

from __future__ import annotations

import hashlib
import re
import string
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
REQUIRED_PROMPTS = (
    "answer",
    "condense_question",
    "chat",
    "insights",
    "summarize_meeting",
    "extract_commitments",
)
# The tags templates fence data with; text put inside a fence must not be able to close or open one.
_FENCE_TAG = re.compile(r"<(\s*/?\s*(?:context|source|history|transcript)\b)", re.IGNORECASE)


class PromptError(ValueError):
    pass


def fence_safe(text: str) -> str:
    """`text` (retrieved passages, history) made unable to break out of the fence it is placed in."""
    return _FENCE_TAG.sub(r"&lt;\1", text)


@dataclass(frozen=True)
class Prompt:
    name: str
    declared_version: str
    description: str
    variables: tuple[str, ...]
    system: str
    template: str
    content_hash: str

    @property
    def version(self) -> str:
        return f"{self.declared_version}+{self.content_hash}"

    def render(self, **values: str) -> tuple[str, str]:
        """(system, user) messages with the variables filled in."""
        missing = set(self.variables) - values.keys()
        extra = values.keys() - set(self.variables)
        if missing or extra:
            raise PromptError(f"prompt {self.name}: missing {sorted(missing)}, unexpected {sorted(extra)}")
        return self.system.format(**values).strip(), self.template.format(**values).strip()


def _fields(text: str) -> set[str]:
    """Every replacement field, as written: a positional `{}` shows up as '' (render() fills by name only)."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def load_prompt(path: Path) -> Prompt:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PromptError(f"{path.name}: {exc}") from None
    for key in ("name", "version", "variables", "system", "template"):
        if key not in data:
            raise PromptError(f"{path.name}: missing key {key!r}")
    declared = tuple(data["variables"])
    try:
        used = _fields(data["system"]) | _fields(data["template"])
    except ValueError as exc:  # an unbalanced brace
        raise PromptError(f"{path.name}: {exc}") from None
    if used != set(declared):
        raise PromptError(f"{path.name}: declares {sorted(declared)} but uses {sorted(used)}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:8]
    return Prompt(
        name=str(data["name"]),
        declared_version=str(data["version"]),
        description=str(data.get("description", "")),
        variables=declared,
        system=str(data["system"]),
        template=str(data["template"]),
        content_hash=digest,
    )


class PromptLibrary:
    def __init__(self, prompts: dict[str, Prompt]) -> None:
        self._prompts = prompts

    def get(self, name: str) -> Prompt:
        if name not in self._prompts:
            raise PromptError(f"no prompt named {name!r}")
        return self._prompts[name]

    def names(self) -> list[str]:
        return sorted(self._prompts)

    @classmethod
    def load(cls, directory: Path = TEMPLATES_DIR) -> PromptLibrary:
        prompts: dict[str, Prompt] = {}
        for path in sorted(directory.glob("*.toml")):
            prompt = load_prompt(path)
            key = prompt.name if prompt.name not in prompts else f"{prompt.name}@{prompt.declared_version}"
            prompts[key] = prompt
            prompts[f"{prompt.name}@{prompt.declared_version}"] = prompt
        missing = [name for name in REQUIRED_PROMPTS if name not in prompts]
        if missing:
            raise PromptError(f"missing prompt files for: {', '.join(missing)}")
        return cls(prompts)


@lru_cache(maxsize=1)
def default_library() -> PromptLibrary:
    return PromptLibrary.load()
