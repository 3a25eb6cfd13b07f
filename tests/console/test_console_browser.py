"""The built-in console in a real browser (Debian's Chromium driven by Playwright), looked at as a person
would: every view (chat, search, documents, meetings, insights) is walked empty and then full, at desktop
width and at 375 px, and none may show a placeholder (`null`, `undefined`, `NaN`, `[object Object]`) or a
string of the other language's table; each is saved to docs/screenshots/. On the way: documents uploaded
by file picker and by drag and drop (the API's type and size errors shown in place, each document's index
state), a transcript summarised into commitments, a spoken recording transcribed on the event feed and
played from a cited second, and the whole console again in English."""

from __future__ import annotations

import os
import re
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
from tests.console.languages import PLACEHOLDERS, console_table, foreign_strings
from tests.documents.samples import make_pdf
from tests.meetings.helpers import silence, speech_wav, write_wav

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
MAX_UPLOAD = 4 * 1024 * 1024  # small, so that the test can show the size error
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
        "V1TR0_HTTP__MAX_UPLOAD_BYTES": str(MAX_UPLOAD),
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


TRANSCRIPT = """WEBVTT

00:00:01.000 --> 00:00:05.000
<v Ana>Buenos días a todos. Me encargo de enviar la oferta para el viernes.</v>

00:00:05.000 --> 00:00:09.000
<v Luis>Decidimos usar React Native para la aplicación móvil.</v>

00:00:09.000 --> 00:00:14.000
<v Marta>El siguiente paso es preparar el prototipo de la aplicación.</v>
"""
VIEWS = {
    "chat": "chat",
    "search": "search",
    "docs": "documents",
    "meetings": "meetings",
    "insights": "insights",
}
# What a view has drawn once it has read the API (its empty state or its content).
LOADED = {
    "chat": "#chat-form",
    "search": "#search-form",
    "docs": "#doc-list li",
    "meetings": "#meeting-list li",
    "insights": "#insight-lists > *",
}
# The visible text of the page, plus the chart's SVG labels (innerText leaves SVG out).
VISIBLE_TEXT = """() => document.body.innerText + "\\n" +
    [...document.querySelectorAll("svg text")].map((node) => node.textContent).join("\\n")"""
# A panel's own words: what it shows minus the project's content (class="content"), which is quoted as
# written (in Spanish here) whatever the console's language.
OWN_WORDS = """(id) => {
    const clone = document.getElementById(id).cloneNode(true);
    clone.querySelectorAll(".content, [hidden]").forEach((node) => node.remove());
    return clone.textContent;
}"""


async def look_at(page: Page, view: str, *, language: str = "es") -> str:
    """Open a view and check what a person would see: no placeholder, no word of the other language.
    In Spanish (the language of the indexed text and of this test's content) the whole page is checked;
    in English, the view's own words and the API's (content quoted from the project left out)."""
    await page.click(f"#tab-{view}")
    # (aria-busy: the view is still reading the API)
    await page.wait_for_selector(
        f"#panel-{view}:not([hidden]):not([aria-busy]) {LOADED[view]}", state="attached"
    )
    text = await page.evaluate(VISIBLE_TEXT)
    assert not PLACEHOLDERS.search(text), (view, language, PLACEHOLDERS.findall(text), text)
    own = text if language == "es" else await page.evaluate(OWN_WORDS, f"panel-{view}")
    foreign = foreign_strings(own, language)
    assert not foreign, (view, language, foreign, own)
    return text


async def screenshot(page: Page, name: str, *, full_page: bool = True) -> None:
    await page.screenshot(path=str(SCREENSHOTS / f"console-{name}.png"), full_page=full_page)


async def drop_file(page: Page, target: str, name: str, size: int, mime: str) -> None:
    """Drag a file of `size` zero bytes onto `target`, as a person drops one from their desktop."""
    transfer = await page.evaluate_handle(
        """([name, size, mime]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(size)], name, { type: mime }));
            return transfer;
        }""",
        [name, size, mime],
    )
    await page.dispatch_event(target, "dragover", {"dataTransfer": transfer})
    await page.dispatch_event(target, "drop", {"dataTransfer": transfer})


@pytest.mark.browser
@pytest.mark.timeout(1200)  # every view twice, a transcription by the local Whisper, on a shared machine
async def test_console_end_to_end(live_stack: str, tmp_path: Path) -> None:
    assert shutil.which(CHROMIUM), "chromium is installed by scripts/system-deps.sh"
    SCREENSHOTS.mkdir(exist_ok=True)
    es = console_table()["es"]
    problems: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1100, "height": 900})
        page.set_default_timeout(30_000)
        recording_statuses: list[int] = []
        page.on("response", lambda r: recording_statuses.append(r.status) if "/recording?" in r.url else None)
        page.on(
            "console",
            lambda m: (
                problems.append(m.text)
                if m.type == "error" and "Failed to load resource" not in m.text
                else None
            ),
        )
        page.on("pageerror", lambda e: problems.append(str(e)))
        await page.goto(live_stack + "/")
        await page.click("#auth-toggle")
        await page.fill("#auth-email", "ana@example.com")
        await page.fill("#auth-password", "correct horse battery")
        await page.fill("#auth-name", "Ana")
        await screenshot(page, "signin")
        await page.click("#auth-submit")
        await page.wait_for_selector("#main-view:not([hidden])")

        await page.fill("#project-title", "Web Acme")
        await page.click("#project-form button[type=submit]")
        # (wait_for_function evaluates strings, which the console's CSP forbids: CSS selectors only)
        await page.wait_for_selector("#project-select option:checked:text('Web Acme')", state="attached")

        # A new project, empty: every view says so in words.
        health = await look_at(page, "insights")
        assert f"{es['health']}: {es['unknown']}" in health and es["noInsightItems"] in health
        assert "Aún no hay fechas, presupuesto ni horas estimadas con que valorarlo" in health
        assert es["chatEmpty"] in await look_at(page, "chat")
        assert es["noDocuments"] in await look_at(page, "docs")
        assert es["noMeetings"] in await look_at(page, "meetings")
        await look_at(page, "search")

        # Documents: one written, one chosen with the file picker, two refused when dropped.
        await page.click("#tab-docs")
        await page.click("#doc-write summary")
        await page.fill("#doc-title", "Oferta")
        await page.fill(
            "#doc-content",
            "Ana enviará la oferta de 12.000 euros el viernes. El blog tendrá tres secciones.",
        )
        await page.click("#doc-form button[type=submit]")
        # No polling: the feed's index.indexed event makes the console read the documents again.
        await page.wait_for_selector('#doc-list li[data-state="indexed"]')
        await page.wait_for_selector('#activity-list li[data-kind="index.indexed"]')
        proposal = {
            "name": "propuesta.pdf",
            "mimeType": "application/pdf",
            "buffer": make_pdf(3, marker="kiwi"),
        }
        await page.set_input_files("#doc-file", files=[proposal])
        await page.wait_for_selector("#doc-upload-status.ok")
        status = await page.text_content("#doc-upload-status") or ""
        assert status.startswith("«propuesta.pdf» añadido: convertido de PDF · 3 páginas · "), status
        await page.wait_for_selector('#activity-list li[data-kind="document.converted"]')
        await page.wait_for_selector('#doc-list li[data-state="indexed"]:has-text("propuesta.pdf")')
        await page.wait_for_selector('#index-status[data-pending="0"]')
        await drop_file(page, "#doc-drop", "notas.exe", 2048, "application/octet-stream")
        await page.wait_for_selector("#doc-upload-status.error[role=alert]:has-text('notas.exe')")
        refused = await page.text_content("#doc-upload-status") or ""
        assert refused.removeprefix("notas.exe: ") in es["errors"].values(), refused
        await drop_file(page, "#doc-drop", "anexo.pdf", MAX_UPLOAD + 1024, "application/pdf")
        await page.wait_for_selector("#doc-upload-status.error:has-text('anexo.pdf')")
        assert (
            await page.text_content("#doc-upload-status")
            == "anexo.pdf: El archivo pesa más de 4 MB, el máximo."
        )
        assert await page.locator("#doc-list li.doc").count() == 2  # nothing stored for the refused files
        await look_at(page, "docs")
        await screenshot(page, "documents")

        await page.click("#tab-search")
        await page.fill("#search-input", "oferta viernes estado")
        await page.click("#search-form button[type=submit]")
        await page.wait_for_selector("#search-results .snippet mark")
        await page.wait_for_selector("#search-results .source-type:text('proyecto')")
        found = await look_at(page, "search")
        assert "documento" in found and "Estado: planificado" in found and "Prioridad: media" in found
        await screenshot(page, "search")
        await page.fill("#search-input", "kiwi-p2")
        await page.click("#search-form button[type=submit]")
        await page.wait_for_selector("#search-results .meta:has-text('propuesta.pdf · p. 2')")
        await look_at(page, "search")

        await page.click("#tab-chat")
        await page.fill("#chat-input", "¿Quién enviará la oferta?")
        await page.click("#chat-send")
        await page.wait_for_selector(".msg.assistant .citations button", timeout=60_000)
        await page.wait_for_selector("#chat-send:not([disabled])")
        answer = await page.text_content(".msg.assistant .answer")
        assert answer and "Ana" in answer and "[1]" in answer
        assert es["extractiveAnswer"] in (await page.text_content(".msg.assistant .status") or "")
        await page.click(".msg.assistant .citations button")
        await page.wait_for_selector("#chunk-dialog[open]")
        assert "oferta" in (await page.text_content("#chunk-body") or "")
        await page.click("#chunk-dialog button")
        await look_at(page, "chat")
        await screenshot(page, "chat")

        # A recording: uploaded, transcribed by the worker (local Whisper) while the feed reports each
        # stage, then cited in an answer and played from the cited second.
        await page.click("#tab-meetings")
        await page.fill("#meeting-title", "Revisión con el cliente")
        await page.click("#meeting-form button[type=submit]")
        await page.wait_for_selector("#meeting-name:text('Revisión con el cliente')")
        await page.set_input_files("#upload-file", str(await recording_with_lead_in(tmp_path)))
        await page.wait_for_selector('#activity-list li[data-kind="transcription.queued"]')
        await page.wait_for_selector('#meeting-events[data-stage="transcription.indexed"]', timeout=240_000)
        await page.wait_for_selector("#transcription .segment")
        assert "colores" in (await page.text_content("#transcription") or "")
        for stage in ("transcription.transcribing", "transcription.summarising", "summary.ready"):
            assert await page.query_selector(f'#activity-list li[data-kind="{stage}"]'), stage
        await look_at(page, "meetings")

        # Once everything is indexed the answer quotes the meeting's summary, which has no time to play
        # from (the original test asked before the summary was searchable); a search hit of its transcript
        # always has one, so the player is driven from there.
        await page.click("#tab-docs")
        await page.wait_for_selector('#index-status[data-pending="0"]')
        await page.click("#tab-chat")
        await page.fill("#chat-input", "¿Qué colores quiere cambiar el cliente?")
        await page.click("#chat-send")
        await page.wait_for_selector("#messages > li.msg.assistant:last-child .citations button")
        await page.wait_for_selector("#chat-send:not([disabled])")
        answer = await page.text_content("#messages > li.msg.assistant:last-child") or ""
        assert "colores" in answer and "Revisión con el cliente" in answer, answer
        await look_at(page, "chat")
        await page.click("#tab-search")
        await page.fill("#search-input", "colores página principal")
        await page.click("#search-form button[type=submit]")
        play = "#search-results li:has(.source-type:text('transcripción')) button.play"
        await page.wait_for_selector(play)
        label = await page.text_content(play) or ""
        cited = sum(
            int(part) * 60**power for power, part in enumerate(reversed(label.strip("▶ ").split(":")))
        )
        assert cited >= LEAD_IN - 1, label  # the speech starts after the lead-in, and so does the hit
        await page.click(play)
        await page.wait_for_selector("#player-bar:not([hidden])")
        position = await player_position(page, at_least=cited)
        assert position >= cited, (position, label)
        assert 206 in recording_statuses, recording_statuses  # the player asked for byte ranges
        await look_at(page, "search")
        await screenshot(page, "recording", full_page=False)  # (the player sticks to the window's bottom)
        await page.click("#player-close")  # (else the sticky player covers the views' screenshots)
        await page.wait_for_selector("#player-bar", state="hidden")
        assert await page.evaluate("document.getElementById('player').paused")

        # A meeting's transcript (after the recording, whose answer it would compete with), uploaded with
        # the picker: its summary, decisions and commitments.
        await page.click("#tab-meetings")
        await page.fill("#meeting-title", "Kickoff")
        await page.click("#meeting-form button[type=submit]")
        await page.wait_for_selector("#meeting-detail:not([hidden]) #transcription .empty")
        transcript = tmp_path / "kickoff.vtt"
        transcript.write_text(TRANSCRIPT, encoding="utf-8")
        await page.set_input_files("#upload-file", str(transcript))
        await page.wait_for_selector('#meeting-events[data-stage="transcription.indexed"]', timeout=120_000)
        await page.wait_for_selector("#transcription .commitment")
        commitments = await page.text_content("#transcription section:has(.commitment)") or ""
        assert "Ana: enviar la oferta" in commitments and "vence el" in commitments, commitments
        meeting = await look_at(page, "meetings")
        assert "React Native" in meeting and es["summary"] in meeting
        assert await page.text_content("#meeting-events") == es["events"]["transcription.indexed"]
        await screenshot(page, "meetings")

        # Insights of a project with meetings: its commitments, decisions and next steps, cited.
        insights = await look_at(page, "insights")
        assert es["commitments"] in insights and "Ana: enviar la oferta" in insights, insights
        await page.wait_for_selector("#insight-lists button.link")
        listed = [
            re.sub(r"(\s*\[\d+\])+$", "", item)
            for item in await page.locator("#insight-lists li").all_text_contents()
        ]
        assert len(listed) == len(set(listed)), listed  # a sentence found in several sources is one item
        await screenshot(page, "insights")

        # Every view at a phone's width: no sideways scrolling, the same checks.
        await page.set_viewport_size({"width": 375, "height": 800})
        for view, name in VIEWS.items():
            await look_at(page, view)
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 375, f"{view} overflows at 375 px ({width} px)"
            await screenshot(page, f"{name}-mobile")

        # English: every view again, in the other table's words (the API's included).
        await page.set_viewport_size({"width": 1100, "height": 900})
        await page.select_option("#lang", "en")
        await page.wait_for_selector("#tab-insights:text('Health')")
        for view in VIEWS:
            await look_at(page, view, language="en")
        await page.wait_for_selector("#health h3:has-text('Project health')")
        assert await page.text_content("#health li") == "No dates, budget or estimated hours to judge by yet"
        await screenshot(page, "insights-en")
        await browser.close()
    assert not problems, problems
