"""`v1tr0 run` with the local chat model on: the supervisor assembles the weights, starts llama.cpp's server,
hands its URL to the API and the worker, and stops it with everything else; without the runtime or the
weights, the stack still starts, on its offline path."""

from __future__ import annotations

import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from core.embedded import free_port
from core.providers import local_llm
from tests.test_supervisor import Stack, assert_nothing_left


class LocalModelStack(Stack):
    def __init__(self, data_dir: Path, *, port: int, redis_port: int, model: str) -> None:
        super().__init__(data_dir, port=port, redis_port=redis_port)
        self.model = model
        # The supervisor waits for the model to load before it starts the API (seconds on a quiet
        # machine, a minute or more on a busy one).
        self.start_deadline = 300.0

    def env(self, **extra: str) -> dict[str, str]:
        return super().env(
            V1TR0_LLM__ENABLED="1",
            V1TR0_LLM__MODEL=self.model,
            V1TR0_LLM__THREADS="1",
            V1TR0_LLM__CONTEXT_TOKENS="1024",
            **extra,
        )

    def children_env(self) -> dict[str, dict[str, str]]:
        """The environment of the API (uvicorn) and the worker, by kind."""
        assert self.process is not None
        found = {}
        for child in psutil.Process(self.process.pid).children(recursive=True):
            args = child.cmdline()
            if "uvicorn" in args:
                found["api"] = child.environ()
            elif args[-2:] == ["v1tr0", "worker"]:
                found["worker"] = child.environ()
        return found


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="v1tr0-llm-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_local_model_starts_serves_and_stops_with_the_stack(workdir: Path) -> None:
    if not local_llm.runtime_installed():
        pytest.fail("llama-cpp-python is not installed: `make test` installs it (.[local-llm-test])")
    try:
        local_llm._package_file(*local_llm.CATALOG["smollm2-135m"].parts[0])
    except local_llm.ModelUnavailable as exc:
        pytest.fail(f"the test model is not installed: {exc}")
    stack = LocalModelStack(workdir / "data", port=free_port(), redis_port=free_port(), model="smollm2-135m")
    try:
        stack.start().wait_ready()
        envs = stack.children_env()
        base_url = envs["api"]["V1TR0_LLM__BASE_URL"]
        assert envs["worker"]["V1TR0_LLM__BASE_URL"] == base_url
        models = httpx.get(base_url + "/models", timeout=10).json()
        assert [model["id"] for model in models["data"]] == ["smollm2-135m"]
        assert (stack.data_dir / "models" / "smollm2-135m-instruct-q4_1.gguf").is_file()
        started = stack.started_processes()

        assert stack.signal_and_wait(signal.SIGTERM) == 0, stack.log()
        assert_nothing_left(stack, started)
        with pytest.raises(httpx.TransportError):
            httpx.get(base_url + "/models", timeout=2)
    finally:
        stack.kill()


def test_a_model_that_cannot_start_leaves_the_stack_on_its_offline_path(workdir: Path) -> None:
    stack = LocalModelStack(workdir / "data", port=free_port(), redis_port=free_port(), model="no-such-model")
    try:
        stack.start().wait_ready()
        assert "V1TR0_LLM__BASE_URL" not in stack.children_env()["api"]
        assert "the local chat model is not available" in stack.log()
        assert stack.signal_and_wait(signal.SIGTERM) == 0, stack.log()
    finally:
        stack.kill()
