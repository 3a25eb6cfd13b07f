"""The built-in console in a real browser (Debian's Chromium driven by Playwright): sign in, create a
project and a document, see it indexed through the event feed, search, chat with streamed tokens and a
citation; upload a spoken recording, follow its transcription on the feed, and play the cited moment."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from playwright.async_api import Page, async_playwright

from core.embedded import free_port
from tests.conftest import TEST_SECRET, Servers
from tests.documents.samples import make_pdf
from tests.meetings.helpers import silence, speech_wav, write_wav

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def live_stack(servers: Servers, resources) -> Iterator[str]:
    """The real app under uvicorn plus a worker, against the test database."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": servers.database_url,
        "REDIS_URL": servers.redis_url,
        "V1TR0_DATA_DIR": str(servers.data_dir),
        "V1TR0_AUTH__SECRET_KEY": TEST_SECRET,
        "V1TR0_EMBEDDING__PROVIDER": "static",
        "V1TR0_LOG__LEVEL": "WARNING",
        "V1TR0_INGESTION__DISPATCH_INTERVAL": "0.2",
    }
    procs = [
        subprocess.Popen([sys.executable, "-m", "v1tr0", "worker"], env=env),
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "api.app:create_app",
                "--factory",
                "--port",
                str(port),
                "--host",
                "127.0.0.1",
            ],
            env=env,
        ),
    ]
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the API did not become ready"
            time.sleep(0.2)
        yield base
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


SPOKEN = "El cliente quiere cambiar los colores de la página principal."
LEAD_IN = 4.0  # seconds of silence before the speech: the cited moment is not the start of the file


async def recording_with_lead_in(folder: Path) -> Path:
    """SPOKEN by espeak-ng after LEAD_IN seconds of silence, as a WAV file."""
    speech = await speech_wav(folder / "speech.wav", SPOKEN, words_per_minute=120)
    with wave.open(str(speech)) as reader:
        rate = reader.getframerate()
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype=np.int16) / 32768
    return write_wav(folder / "reunion.wav", np.concatenate([silence(LEAD_IN, rate), samples]), rate)


async def player_position(page: Page, *, at_least: float, within: float = 30) -> float:
    """The audio player's position once it has reached `at_least` seconds (waits for the seek)."""
    deadline = time.monotonic() + within
    while True:
        position = float(await page.evaluate("document.getElementById('player').currentTime"))
        if position >= at_least or time.monotonic() > deadline:
            return position
        await page.wait_for_timeout(100)


@pytest.mark.browser
async def test_console_end_to_end(live_stack: str, tmp_path: Path) -> None:
    assert shutil.which(CHROMIUM), "chromium is installed by scripts/system-deps.sh"
    ARTIFACTS.mkdir(exist_ok=True)
    problems: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1100, "height": 900})
        recording_statuses: list[int] = []
        page.on("response", lambda r: recording_statuses.append(r.status) if "/recording?" in r.url else None)
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        await page.goto(live_stack + "/")
        await page.click("#auth-toggle")
        await page.fill("#auth-email", "ana@example.com")
        await page.fill("#auth-password", "correct horse battery")
        await page.fill("#auth-name", "Ana")
        await page.screenshot(path=str(ARTIFACTS / "console-signin.png"))
        await page.click("#auth-submit")
        await page.wait_for_selector("#main-view:not([hidden])")

        await page.fill("#project-title", "Web Acme")
        await page.click("#project-form button[type=submit]")
        # (wait_for_function evaluates strings, which the console's CSP forbids: CSS selectors only)
        await page.wait_for_selector("#project-select option:checked:text('Web Acme')", state="attached")

        await page.click("#tab-docs")
        await page.fill("#doc-title", "Presupuesto")
        await page.fill(
            "#doc-content",
            "Ana enviará el presupuesto de 12.000 euros el viernes. El blog tendrá tres secciones.",
        )
        await page.click("#doc-form button[type=submit]")
        # No polling: the feed's index.indexed event makes the console read the index status again.
        await page.wait_for_selector('#index-status[data-indexed]:not([data-indexed="0"])', timeout=30_000)
        await page.wait_for_selector('#activity-list li[data-kind="index.indexed"]')
        proposal = {
            "name": "propuesta.pdf",
            "mimeType": "application/pdf",
            "buffer": make_pdf(3, marker="kiwi"),
        }
        await page.set_input_files("#doc-file", files=[proposal])
        await page.click("#doc-upload-form button[type=submit]")
        await page.wait_for_selector("#doc-upload-status:text('propuesta.pdf (pdf · 3)')", timeout=30_000)
        await page.wait_for_selector('#activity-list li[data-kind="document.converted"]')
        await page.wait_for_selector('#index-status[data-pending="0"]', timeout=30_000)
        await page.screenshot(path=str(ARTIFACTS / "console-documents.png"))

        await page.click("#tab-search")
        await page.fill("#search-input", "presupuesto viernes")
        await page.click("#search-form button[type=submit]")
        await page.wait_for_selector("#search-results .snippet mark")
        await page.fill("#search-input", "kiwi-p2")
        await page.click("#search-form button[type=submit]")
        await page.wait_for_selector("#search-results .meta:text('propuesta.pdf · p. 2')")
        await page.screenshot(path=str(ARTIFACTS / "console-search.png"))

        await page.click("#tab-chat")
        await page.fill("#chat-input", "¿Quién enviará el presupuesto?")
        await page.click("#chat-send")
        await page.wait_for_selector(".msg.assistant .citations button", timeout=30_000)
        answer = await page.text_content(".msg.assistant .answer")
        assert answer and "Ana" in answer and "[1]" in answer
        await page.click(".msg.assistant .citations button")
        await page.wait_for_selector("#chunk-dialog[open]")
        assert "presupuesto" in (await page.text_content("#chunk-body") or "")
        await page.screenshot(path=str(ARTIFACTS / "console-chat.png"))
        await page.click("#chunk-dialog button")

        await page.click("#tab-insights")
        await page.wait_for_selector("#burn-chart svg")
        await page.screenshot(path=str(ARTIFACTS / "console-insights.png"))

        # A recording: uploaded, transcribed by the worker (local Whisper) while the feed reports each
        # stage, then cited in an answer and played from the cited second.
        await page.click("#tab-meetings")
        await page.fill("#meeting-title", "Revisión con el cliente")
        await page.click("#meeting-form button[type=submit]")
        await page.wait_for_selector("#meeting-detail:not([hidden])")
        await page.set_input_files("#upload-file", str(await recording_with_lead_in(tmp_path)))
        await page.click("#upload-form button[type=submit]")
        await page.wait_for_selector('#activity-list li[data-kind="transcription.queued"]', timeout=30_000)
        await page.wait_for_selector('#meeting-events[data-stage="transcription.indexed"]', timeout=180_000)
        await page.wait_for_selector("#transcription .segment")
        assert "colores" in (await page.text_content("#transcription") or "")
        for stage in ("transcription.transcribing", "transcription.summarising", "summary.ready"):
            assert await page.query_selector(f'#activity-list li[data-kind="{stage}"]'), stage

        await page.click("#tab-chat")
        await page.fill("#chat-input", "¿Qué colores quiere cambiar el cliente?")
        await page.click("#chat-send")
        play = "#messages > li.msg.assistant:last-child .citations button.play"
        await page.wait_for_selector(play, timeout=30_000)
        label = await page.text_content(play) or ""
        cited = sum(
            int(part) * 60**power for power, part in enumerate(reversed(label.strip("▶ ").split(":")))
        )
        assert cited >= LEAD_IN - 1, label  # the speech starts after the lead-in, and so does the citation
        await page.click(play)
        await page.wait_for_selector("#player-bar:not([hidden])")
        position = await player_position(page, at_least=cited)
        assert position >= cited, (position, label)
        assert 206 in recording_statuses, recording_statuses  # the player asked for byte ranges
        await page.screenshot(path=str(ARTIFACTS / "console-recording.png"))

        await page.set_viewport_size({"width": 375, "height": 800})
        await page.click("#tab-chat")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"the layout overflows at 375 px ({width} px)"
        await page.screenshot(path=str(ARTIFACTS / "console-mobile.png"))
        await browser.close()
    assert not problems, problems
