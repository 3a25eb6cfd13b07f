"""Measure transcription: the whole upload -> segments job vs `WhisperModel.transcribe` on the same file.

A Spanish clip of about five minutes is spoken by espeak-ng from the reference text below. Then, in the
same run and with the same settings (Whisper base, int8, language es, VAD, beam 5, 2 threads):

1. pipeline: the clip is POSTed to /transcriptions/upload (through the real app, on a temporary embedded
   PostgreSQL + Redis) and `meetings.pipeline.process_transcription` runs the job with a
   `MeetingRuntime`, as a worker does: transcription with progress updates, segments saved, summary,
   ledger. Timed from the POST until the job returns;
2. direct: `WhisperModel.transcribe` on the same file, consuming the segments.

Both models are loaded and warmed (one short clip) before timing, as in a running worker. The two are
alternated (direct, pipeline, direct, pipeline) and the medians compared: pipeline overhead =
pipeline / direct - 1 (target <= 10%). The word error rate of each transcript against the reference text
is printed (lower-cased, punctuation stripped, word-level Levenshtein). Finally a table of real-time
factors (processing seconds per audio second) for beam 1 vs 5 and 1 vs 2 threads, calling the model
directly. The seed's target is one minute of processing per hour of audio: RTF 0.0167.

    python bench/transcribe.py [--rounds 2] [--speed 150] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.app import create_app  # noqa: E402
from api.resources import Resources  # noqa: E402
from core.audio import probe_audio  # noqa: E402
from core.db import libpq_url  # noqa: E402
from core.embedded import EmbeddedServices, free_port  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.models import User  # noqa: E402
from core.providers.stt import whisper_base_dir  # noqa: E402
from core.security import create_access_token  # noqa: E402
from core.settings import Settings  # noqa: E402
from meetings.pipeline import MeetingRuntime, process_transcription  # noqa: E402

DATABASE = "v1tr0_bench_transcribe"
SECRET = "bench-secret-key-that-is-long-enough-for-hs256-0123456789"  # noqa: S105 - throwaway
API = "/api/v1"
TARGET_RTF = 1 / 60  # one minute of processing per hour of audio
TARGET_OVERHEAD = 0.10

REFERENCE = """
Buenos días a todos y gracias por venir a la reunión de seguimiento del proyecto de la tienda en línea.
Hoy queremos repasar el avance de las últimas semanas, revisar el presupuesto y acordar los próximos pasos
con el cliente. La reunión durará una hora como máximo, así que vamos a intentar ser breves y concretos.

El equipo de diseño terminó las pantallas principales de la aplicación. El cliente revisó la portada, el
catálogo de productos y el proceso de compra, y nos pidió algunos cambios pequeños en los colores y en el
tamaño de las letras. También quiere que el botón para pagar sea más visible en los teléfonos móviles,
porque la mayoría de sus clientes compra desde el teléfono y no desde el ordenador de la oficina.

En cuanto al desarrollo, la parte del servidor está casi lista. Ya funcionan el registro de usuarios, el
inicio de sesión y el carrito de la compra. Falta conectar la pasarela de pagos y preparar los correos que
recibe el cliente cuando hace un pedido. El equipo calcula que necesita dos semanas más para terminar
estas tareas y otra semana para las pruebas con usuarios reales antes de publicar la primera versión.

Sobre el presupuesto, hemos gastado algo más de lo previsto en el diseño, porque el cliente pidió tres
versiones distintas de la portada. Propongo que revisemos las horas que quedan y que hablemos con el
cliente para ajustar el alcance de la segunda fase. Me encargo de enviar el presupuesto actualizado antes
del viernes, con el detalle de las horas de cada persona del equipo y las tareas que faltan por hacer.

Luis va a preparar una demostración de la aplicación para la próxima semana. La idea es enseñar al
cliente el proceso completo de compra, desde que entra en la tienda hasta que recibe el correo de
confirmación. Marta se encarga de escribir la guía para los empleados de la tienda, que tendrán que
gestionar los pedidos, los envíos y las devoluciones desde el panel de administración.

También hablamos de la seguridad. Decidimos guardar las contraseñas cifradas, revisar los permisos de
cada usuario y hacer copias de seguridad de la base de datos todas las noches. El cliente preguntó si
podemos cumplir la ley de protección de datos, y la respuesta es que sí, siempre que el cliente firme el
contrato de encargo del tratamiento y que los servidores estén en Europa.

Por último, el cliente quiere una campaña de lanzamiento en las redes sociales. Todavía no tenemos el
texto ni las imágenes, así que propongo que el equipo de comunicación prepare una propuesta y que la
presentemos en la próxima reunión. El siguiente paso es fijar la fecha de publicación con el cliente,
teniendo en cuenta las vacaciones de diciembre y la campaña de rebajas de enero.

Otro tema importante es el rendimiento de la tienda. Las primeras pruebas muestran que la portada tarda
demasiado en cargar cuando la conexión es lenta, sobre todo por el tamaño de las imágenes del catálogo.
Vamos a reducir las imágenes, guardar en memoria las páginas que más se visitan y medir de nuevo el
tiempo de carga desde distintos teléfonos. Si el resultado no mejora, tendremos que cambiar el servidor
por uno más potente, lo que supondría un gasto mensual mayor para el cliente.

El cliente también nos preguntó por la atención a los compradores. Quiere ofrecer un chat en la propia
tienda para resolver dudas sobre las tallas, los plazos de entrega y las devoluciones. Hay varias
herramientas en el mercado que se pueden integrar sin mucho trabajo, pero todas tienen un coste por cada
persona que atiende el chat. Acordamos preparar una comparación sencilla de tres opciones, con sus
ventajas, sus inconvenientes y su precio, para que el cliente pueda decidir con calma.

En cuanto a la organización del equipo, durante las próximas semanas trabajaremos en ciclos cortos de
una semana. Cada lunes revisaremos las tareas pendientes y cada viernes enseñaremos al cliente lo que se
ha terminado. Así el cliente puede dar su opinión a tiempo y evitamos sorpresas al final del proyecto.
Si alguien del equipo se va de vacaciones, debe avisar con antelación para repartir su trabajo.

Antes de terminar, repasemos los compromisos. Yo envío el presupuesto actualizado el viernes. Luis
prepara la demostración para la semana que viene. Marta escribe la guía para los empleados de la tienda.
El equipo de comunicación prepara la propuesta de la campaña. Nos vemos la semana que viene a la misma
hora. Muchas gracias a todos por vuestro trabajo y hasta pronto.
"""


# --------------------------------------------------------------------------------------------- WER


def words_of(text: str) -> list[str]:
    """Lower-cased words with the punctuation stripped (accents kept)."""
    text = unicodedata.normalize("NFC", text.lower())
    return re.sub(r"[^\w\s]|_", " ", text).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words, by word-level Levenshtein distance."""
    ref, hyp = words_of(reference), words_of(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, start=1):
        current = [i] + [0] * len(hyp)
        for j, hyp_word in enumerate(hyp, start=1):
            current[j] = min(
                previous[j] + 1,  # deletion
                current[j - 1] + 1,  # insertion
                previous[j - 1] + (ref_word != hyp_word),  # substitution or match
            )
        previous = current
    return previous[-1] / max(len(ref), 1)


# --------------------------------------------------------------------------------------------- audio


def speak(text: str, path: Path, *, words_per_minute: int) -> float:
    """espeak-ng Spanish voice into a WAV file; returns its duration in seconds."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise SystemExit("espeak-ng is not installed (scripts/system-deps.sh installs it)")
    subprocess.run([espeak, "-v", "es", "-s", str(words_per_minute), "-w", str(path), text], check=True)
    return probe_audio(path).duration


# --------------------------------------------------------------------------------------------- runs


@dataclass
class Run:
    kind: str  # pipeline | direct
    beam_size: int
    threads: int
    seconds: float  # wall clock
    cpu_seconds: float  # CPU time of this process (all threads): steadier than wall time on a busy machine
    wer: float
    segments: int
    detail: dict[str, float] = field(default_factory=dict)


@dataclass
class Report:
    audio_seconds: float
    reference_words: int
    cores: int
    load_average: list[float]
    runs: list[Run] = field(default_factory=list)
    model_load_seconds: dict[str, float] = field(default_factory=dict)

    def add(self, kind: str, beam_size: int, threads: int, clock: Stopwatch, text: str, segments: int) -> Run:
        run = Run(kind, beam_size, threads, clock.wall, clock.cpu, word_error_rate(REFERENCE, text), segments)
        self.runs.append(run)
        return run


class Stopwatch:
    """Wall-clock and process CPU time between start() and stop()."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0
        self._wall = self._cpu = 0.0

    def start(self) -> Stopwatch:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def lap(self) -> float:
        return time.perf_counter() - self._wall

    def stop(self) -> Stopwatch:
        self.wall, self.cpu = time.perf_counter() - self._wall, time.process_time() - self._cpu
        return self


def direct_model(model_dir: Path, threads: int) -> Any:
    from faster_whisper import WhisperModel  # type: ignore[import-untyped]

    return WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=threads)


def transcribe_direct(model: Any, path: Path, *, beam_size: int) -> tuple[Stopwatch, str, int]:
    """(timing, text, segments) of WhisperModel.transcribe with the pipeline's arguments."""
    clock = Stopwatch().start()
    segments, _ = model.transcribe(str(path), language="es", beam_size=beam_size, vad_filter=True)
    texts = [segment.text.strip() for segment in segments]  # a generator: the work happens here
    return clock.stop(), " ".join(texts), len(texts)


class Pipeline:
    """The app (through ASGITransport) and a MeetingRuntime on a temporary embedded database."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.resources = Resources.open(settings)
        self.runtime = MeetingRuntime(settings, self.resources.sessionmaker, self.resources.redis)
        self.app = create_app(settings, resources=self.resources)
        self.headers: dict[str, str] = {}
        self.project_id = ""

    async def setup(self) -> None:
        async with self.resources.sessionmaker() as session:
            user = User(email="bench@example.com", full_name="Bench")
            session.add(user)
            await session.commit()
        token = create_access_token(user_id=user.id, secret=SECRET, ttl_seconds=24 * 3600)
        self.headers = {"Authorization": f"Bearer {token}"}
        async with self._client() as client:
            r = await client.post(f"{API}/projects", json={"title": "Bench"}, headers=self.headers)
            r.raise_for_status()
            self.project_id = r.json()["id"]

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://bench")

    async def run(self, path: Path) -> tuple[Stopwatch, str, int, dict[str, float]]:
        """(timing from the POST until the job returns, transcript, segments, breakdown)."""
        async with self._client() as client:
            r = await client.post(
                f"{API}/meetings",
                json={"project_id": self.project_id, "title": "Seguimiento"},
                headers=self.headers,
            )
            r.raise_for_status()
            meeting_id = r.json()["id"]
            content = await asyncio.to_thread(path.read_bytes)
            clock = Stopwatch().start()
            r = await client.post(
                f"{API}/transcriptions/upload/{meeting_id}",
                files={"file": ("reunion.wav", content, "audio/wav")},
                data={"language": "es"},
                headers=self.headers,
            )
            r.raise_for_status()
            uploaded = clock.lap()
            outcome = await process_transcription(self.runtime, uuid.UUID(r.json()["id"]), False)
            clock.stop()
            if outcome != "completed":
                raise RuntimeError(f"the transcription job ended {outcome}")
            r = await client.get(f"{API}/transcriptions/{r.json()['id']}", headers=self.headers)
            body = r.json()
        detail = {"upload": uploaded, "job": clock.wall - uploaded}
        return clock, body["transcript_text"].replace("\n", " "), len(body["segments"]), detail

    async def close(self) -> None:
        await self.resources.close()


async def measure(args: argparse.Namespace, workdir: Path, embedded: EmbeddedServices) -> Report:
    clip = workdir / "clip-es.wav"
    print(f"speaking the reference text with espeak-ng at {args.speed} words/min ...", flush=True)
    duration = speak(REFERENCE, clip, words_per_minute=args.speed)
    report = Report(
        audio_seconds=round(duration, 2),
        reference_words=len(words_of(REFERENCE)),
        cores=len(os.sched_getaffinity(0)),
        load_average=[round(value, 1) for value in os.getloadavg()],
    )
    print(
        f"clip: {duration:.1f} s, {report.reference_words} reference words, {report.cores} cores", flush=True
    )
    warmup = workdir / "warmup.wav"
    speak("Buenos días. Empezamos la reunión.", warmup, words_per_minute=args.speed)

    model_dir = whisper_base_dir(ROOT / ".v1tr0")
    database_url = create_database(embedded.database_url)
    upgrade(database_url)
    settings = Settings(
        environment="development",
        database_url=database_url,
        redis_url=embedded.redis_url,
        data_dir=workdir / "app",
        auth={"secret_key": SECRET},
        log={"level": "WARNING"},
        embedding={"provider": "static"},
        transcription={"whisper_model": str(model_dir), "beam_size": 5, "threads": 2, "language": "es"},
    )
    pipeline = Pipeline(settings)
    try:
        await pipeline.setup()
        clock = Stopwatch().start()
        await pipeline.run(warmup)  # loads the worker's model, as its first job would
        report.model_load_seconds["pipeline first job (model load + a 3 s clip)"] = clock.stop().wall
        clock = Stopwatch().start()
        models = {2: direct_model(model_dir, 2)}
        report.model_load_seconds["direct model load"] = clock.stop().wall
        transcribe_direct(models[2], warmup, beam_size=5)

        for round_number in range(args.rounds):
            print(f"round {round_number + 1}/{args.rounds}: direct ...", flush=True)
            clock, text, count = await asyncio.to_thread(transcribe_direct, models[2], clip, beam_size=5)
            report.add("direct", 5, 2, clock, text, count)
            print(f"round {round_number + 1}/{args.rounds}: pipeline ...", flush=True)
            clock, text, count, detail = await pipeline.run(clip)
            report.add("pipeline", 5, 2, clock, text, count).detail = detail
    finally:
        await pipeline.close()

    models[1] = direct_model(model_dir, 1)
    transcribe_direct(models[1], warmup, beam_size=1)
    for beam_size, threads in ((1, 1), (1, 2), (5, 1)):
        print(f"direct: beam {beam_size}, {threads} thread(s) ...", flush=True)
        clock, text, count = transcribe_direct(models[threads], clip, beam_size=beam_size)
        report.add("direct", beam_size, threads, clock, text, count)
    report.load_average += [round(value, 1) for value in os.getloadavg()]
    return report


def create_database(admin_url: str) -> str:
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    head, _, query = admin_url.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{DATABASE}" + (f"?{query}" if query else "")


# --------------------------------------------------------------------------------------------- report


def print_report(report: Report) -> None:
    audio = report.audio_seconds
    print(f"\nclip: {audio:.1f} s of espeak-ng Spanish ({report.reference_words} words)")
    print(f"machine: {report.cores} cores; load average at start and end {report.load_average}")
    for name, seconds in report.model_load_seconds.items():
        print(f"  {name}: {seconds:.2f} s")

    print("\npipeline vs direct (Whisper base, int8, beam 5, 2 threads, language es, VAD):")
    print(f"  {'run':<9} {'wall s':>8} {'CPU s':>8} {'RTF':>7} {'WER':>6} {'segments':>9}  detail")
    same = [run for run in report.runs if run.beam_size == 5 and run.threads == 2]
    for run in same:
        detail = ", ".join(f"{key} {value:.2f} s" for key, value in run.detail.items())
        row = f"{run.kind:<9} {run.seconds:>8.2f} {run.cpu_seconds:>8.2f} {run.seconds / audio:>7.4f}"
        print(f"  {row} {run.wer:>6.1%} {run.segments:>9}  {detail}")
    for measure, key in (("wall", "seconds"), ("CPU", "cpu_seconds")):
        direct = statistics.median(getattr(run, key) for run in same if run.kind == "direct")
        pipeline = statistics.median(getattr(run, key) for run in same if run.kind == "pipeline")
        overhead = pipeline / direct - 1
        verdict = "meets" if overhead <= TARGET_OVERHEAD else "misses"
        print(
            f"  median {measure}: direct {direct:.2f} s, pipeline {pipeline:.2f} s -> pipeline overhead "
            f"{overhead:+.1%} ({verdict} the <= {TARGET_OVERHEAD:.0%} target)"
        )

    print(f"\nreal-time factor, WhisperModel.transcribe directly (target {TARGET_RTF:.4f} = 1 min per hour):")
    header = f"{'beam':>4} {'threads':>7} {'wall s':>8} {'RTF':>7} {'min/hour':>8} {'CPU s':>8} {'WER':>6}"
    print(f"  {header}  target")
    table: dict[tuple[int, int], list[Run]] = {}
    for run in report.runs:
        if run.kind == "direct":
            table.setdefault((run.beam_size, run.threads), []).append(run)
    for (beam_size, threads), runs in sorted(table.items()):
        seconds = statistics.median(run.seconds for run in runs)
        cpu = statistics.median(run.cpu_seconds for run in runs)
        rtf = seconds / audio
        wer = statistics.median(run.wer for run in runs)
        reached = "yes" if rtf <= TARGET_RTF else f"no ({rtf / TARGET_RTF:.1f}x)"
        row = f"{beam_size:>4} {threads:>7} {seconds:>8.2f} {rtf:>7.4f} {rtf * 60:>8.1f} {cpu:>8.2f}"
        row += f" {wer:>6.1%}"
        print(f"  {row}  {reached}")
    print(
        "  (on a busy machine wall time includes waiting for a core; CPU s / threads is what an idle "
        "machine would take at best)"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=2, help="direct/pipeline alternations (median)")
    parser.add_argument("--speed", type=int, default=150, help="espeak-ng words per minute")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="v1tr0-bench-transcribe-"))
    embedded = EmbeddedServices(workdir / "data", redis_port=free_port())
    try:
        print(f"starting embedded PostgreSQL + Redis under {workdir} ...", flush=True)
        embedded.start()
        report = asyncio.run(measure(args, workdir, embedded))
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything the bench started", file=sys.stderr)
        return 130
    finally:
        embedded.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n")
        print(f"\nnumbers written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
