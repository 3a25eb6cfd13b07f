"""The dependency direction of STYLE.md §1, checked on the source: `api`, `evals` -> `meetings` ->
`ingestion`, `retrieval` -> `prompts` -> `core`; ingestion and retrieval never import each other nor the
meetings domain; only `api/` imports the web framework. Also the typed contracts between processes: Redis
key names are spelled only in core/keys.py, and who-sees-what only in api/access.py.

Every import statement counts, including those inside functions and under TYPE_CHECKING."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "api", "ingestion", "retrieval", "meetings", "prompts", "evals", "v1tr0")
WEB_FRAMEWORKS = {"fastapi", "starlette", "sse_starlette"}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. "api.routes.health"
    target: str  # the imported module, absolute, e.g. "core.settings"
    line: int

    @property
    def package(self) -> str:
        return self.module.split(".")[0]

    @property
    def target_package(self) -> str:
        return self.target.split(".")[0]

    def __str__(self) -> str:
        path = self.module.replace(".", "/")
        return f"{path}.py:{self.line} imports {self.target}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """Absolute names a `from ... import ...` brings in (`from . import x` may import submodule x)."""
    if node.level == 0:
        base = node.module or ""
    else:
        parts = module.split(".")
        anchor = parts if is_package else parts[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, node.module] if node.module else anchor)
    if node.module is None:
        return [f"{base}.{alias.name}" for alias in node.names]
    return [base]


def imports_of(path: Path) -> Iterator[Import]:
    module = module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            for target in resolve(module, path.name == "__init__.py", node):
                yield Import(module, target, node.lineno)


def all_imports() -> list[Import]:
    found = []
    for package in PACKAGES:
        files = sorted((ROOT / package).rglob("*.py"))
        assert files, f"no source files under {package}/"
        for path in files:
            found.extend(imports_of(path))
    return found


IMPORTS = all_imports()


def violations(*, of: set[str], forbidden: set[str]) -> list[str]:
    return [str(imp) for imp in IMPORTS if imp.package in of and imp.target_package in forbidden]


def test_the_walker_sees_the_real_imports() -> None:
    """Guard against a test that cannot fail: known edges of the graph are found, lazy imports included."""
    edges = {(imp.package, imp.target_package) for imp in IMPORTS}
    assert {("api", "core"), ("api", "fastapi"), ("ingestion", "core"), ("retrieval", "prompts")} <= edges
    lazy = {(imp.module, imp.target) for imp in IMPORTS}
    assert ("v1tr0.cli", "v1tr0.supervisor") in lazy  # imported inside a function


def test_relative_imports_resolve_to_absolute_modules() -> None:
    statements = ast.parse(
        "from ..core import settings\nfrom . import deps\nfrom .schemas import common"
    ).body
    resolved = [
        resolve("api.routes.health", False, node) for node in statements if isinstance(node, ast.ImportFrom)
    ]
    assert resolved == [["api.core"], ["api.routes.deps"], ["api.routes.schemas"]]
    resolved = [resolve("api.routes", True, node) for node in statements if isinstance(node, ast.ImportFrom)]
    assert resolved == [["api.core"], ["api.routes.deps"], ["api.routes.schemas"]]


def test_core_depends_on_no_other_layer() -> None:
    assert (
        violations(
            of={"core"}, forbidden={"api", "ingestion", "retrieval", "meetings", "prompts", "evals", "v1tr0"}
        )
        == []
    )


def test_prompts_depend_only_on_core() -> None:
    assert (
        violations(of={"prompts"}, forbidden={"api", "ingestion", "retrieval", "meetings", "evals", "v1tr0"})
        == []
    )


@pytest.mark.parametrize(("package", "other"), [("ingestion", "retrieval"), ("retrieval", "ingestion")])
def test_ingestion_and_retrieval_are_independent(package: str, other: str) -> None:
    assert violations(of={package}, forbidden={other, "meetings", "api", "evals", "v1tr0"}) == []


def test_the_meetings_domain_sits_below_the_api() -> None:
    """meetings/ uses ingestion (chunks, the worker's plugin hook), prompts and core; never the API, the
    evals, the retrieval pipeline or the command line."""
    assert violations(of={"meetings"}, forbidden={"api", "evals", "retrieval", "v1tr0"}) == []
    edges = {(imp.package, imp.target_package) for imp in IMPORTS}
    assert {("api", "meetings"), ("meetings", "ingestion"), ("meetings", "core")} <= edges


def test_evals_do_not_import_the_api() -> None:
    assert violations(of={"evals"}, forbidden={"api"}) == []


def test_only_the_api_imports_the_web_framework() -> None:
    outside_api = set(PACKAGES) - {"api"}
    assert violations(of=outside_api, forbidden=WEB_FRAMEWORKS) == []


def string_literals(package: str) -> Iterator[tuple[str, int, str]]:
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                yield str(path.relative_to(ROOT)), node.lineno, node.value


REDIS_KEY = re.compile(r"^(?:v1tr0|ratelimit|arq):\S")  # not "v1tr0: usage…" messages


def test_redis_keys_are_spelled_only_in_core_keys() -> None:
    """A key the API and the worker share is written once (core/keys.py), as arq keeps its own keys."""
    spelled = [
        f"{path}:{line} {value!r}"
        for package in PACKAGES
        for path, line, value in string_literals(package)
        if REDIS_KEY.match(value) and path != "core/keys.py"
    ]
    assert spelled == []


def test_the_rule_of_who_sees_what_lives_in_api_access() -> None:
    """Eval projects are nobody's and a member's role decides: only api/access.py writes those rules."""
    found = [
        f"{path}:{line}"
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if str(path.relative_to(ROOT)) not in {"api/access.py", "core/models.py"}
        for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if "Project.is_eval" in text
    ]
    assert found == []


def test_snippets_are_made_in_python_not_by_ts_headline() -> None:
    """retrieval/highlight.py marks the query's words; ts_headline parsed every word of every chunk of a
    results page inside PostgreSQL (1.1-1.4 ms of its CPU per search and per answer)."""
    called = [
        f"{path}:{line}"
        for package in PACKAGES
        for path, line, value in string_literals(package)
        if "ts_headline(" in value
    ]
    assert called == []
