"""Text analysis shared by the offline implementations (extractive answers, summaries, commitment
patterns, the ledger, eval metrics): accent folding, stop words, a crude shared stemmer, sentence
splitting, timestamps. Spanish and English."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from functools import lru_cache

_TOKEN = re.compile(r"\w+", re.UNICODE)
# Sentence ends inside retrieved text: punctuation followed by what starts a sentence, or a line break.
_SENTENCE = re.compile(r"(?<=[.!?¿¡…])\s+(?=[A-ZÁÉÍÓÚÑ¿¡0-9\[])|\n+")
# Sentence ends inside one spoken segment (transcripts are not capitalised reliably).
_SPOKEN_SENTENCE = re.compile(r"(?<=[.!?])\s+")
# The "[type › title]" header line the indexer puts in front of every chunk.
CHUNK_HEADER = re.compile(r"^\[[^\]]*\]\s*")
HEADER_SEPARATOR = " › "  # between the header's parts (ingestion.chunkers._header)


def header_parts(text: str) -> list[str]:
    """The parts of the header `text` starts with: the kind of source, then its title (a meeting's, a
    document's), then for a document its own title and section path. [] when `text` has no header."""
    header = CHUNK_HEADER.match(text)
    return header.group(0).strip().strip("[]").split(HEADER_SEPARATOR) if header else []


# As written; content_terms compares folded words, so it reads FOLDED_STOPWORDS ("cuánto" -> "cuanto").
STOPWORDS = frozenset(
    [
        "a",
        "al",
        "algo",
        "ante",
        "como",
        "con",
        "cual",
        "cuando",
        "de",
        "del",
        "desde",
        "donde",
        "el",
        "ella",
        "ellos",
        "en",
        "entre",
        "era",
        "es",
        "esa",
        "ese",
        "eso",
        "esta",
        "este",
        "esto",
        "fue",
        "ha",
        "han",
        "hay",
        "la",
        "las",
        "le",
        "les",
        "lo",
        "los",
        "mas",
        "me",
        "mi",
        "muy",
        "no",
        "nos",
        "o",
        "para",
        "pero",
        "por",
        "que",
        "qué",
        "quien",
        "se",
        "ser",
        "si",
        "sin",
        "sobre",
        "su",
        "sus",
        "también",
        "te",
        "tiene",
        "un",
        "una",
        "uno",
        "unos",
        "y",
        "ya",
        "cuál",
        "cuándo",
        "cómo",
        "dónde",
        "quién",
        "cuánto",
        "cuántos",
        "cuántas",
        "cuánta",
        "cuáles",
        "quiénes",
        "the",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "their",
        "there",
        "this",
        "to",
        "was",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
    ]
)


@lru_cache(maxsize=1)
def _combining_marks() -> re.Pattern[str]:
    """Every character with a combining class (what NFKD splits off letters as accents), as one class.
    Built on first need (a scan of every code point, ~45 ms): Latin text never needs it."""
    marks = [code for code in range(0x110000) if unicodedata.combining(chr(code))]
    ranges, first, last = [], marks[0], marks[0]
    for code in marks[1:]:
        if code != last + 1:
            ranges.append((first, last))
            first = code
        last = code
    ranges.append((first, last))
    return re.compile("[" + "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges) + "]")


_LATIN_MARKS = re.compile("[\u0300-\u036f]")


def fold(text: str) -> str:
    """Lower case without accents: "Según el Éxito" -> "segun el exito". (Answers and the abstention
    decision fold every retrieved sentence: ASCII text skips the decomposition, and the marks go in one
    regex pass rather than a generator over characters.)"""
    lowered = text.lower()
    if lowered.isascii():
        return lowered
    decomposed = unicodedata.normalize("NFKD", lowered)
    # Latin text's marks are all in one block, which a one-range class removes fastest.
    return (_LATIN_MARKS if max(decomposed) <= "\u036f" else _combining_marks()).sub("", decomposed)


FOLDED_STOPWORDS = frozenset(fold(word) for word in STOPWORDS)


def words(text: str) -> list[str]:
    """The folded words of `text`."""
    return _TOKEN.findall(fold(text))


@lru_cache(maxsize=32_768)
def content_terms(text: str) -> tuple[str, ...]:
    """Folded content words cut to a 5-letter prefix (a crude stemmer shared by both languages).

    Cached: an answer reads the terms of every sentence of every retrieved chunk (the abstention features,
    the extractive answerer, the citation checks), ~80 sentences per question, and a project's chunks come
    back for question after question (16 % of an ask's CPU before)."""
    kept = (word[:5] for word in words(text) if word not in FOLDED_STOPWORDS and len(word) > 1)
    return tuple(_SAME_STEM.get(term, term) for term in kept)


# Words people use for one thing in the agency's two languages: a question says "hosting" where the proposal
# says "Alojamiento: 28 € al mes" (the meetings sets c-g: four hosting price questions, every proposal's line
# in Spanish). Terms read them as one word, and the full-text query looks for both (with_equivalents).
EQUIVALENT_WORDS = {"hosting": "alojamiento", "newsletter": "boletin"}
# Prefixes of one verb that its stem's vowel change splits: "¿Qué logo eligieron?" asks what "elegisteis la
# segunda" answers (elegir: eligió, eligieron, elija; elegimos, elegido).
_SAME_STEM = {"eligi": "elegi", "elija": "elegi", "elijo": "elegi", "elije": "elegi"} | {
    word[:5]: same[:5] for word, same in EQUIVALENT_WORDS.items()
}


def with_equivalents(text: str) -> str:
    """The text followed by the equivalents (EQUIVALENT_WORDS) of the words it uses and lacks: "precio del
    hosting" -> "precio del hosting alojamiento"."""
    said = set(words(text))
    extra = [same for word, same in EQUIVALENT_WORDS.items() if word in said and same not in said]
    extra += [word for word, same in EQUIVALENT_WORDS.items() if same in said and word not in said]
    return " ".join([text, *extra]) if extra else text


# A Markdown table's row ("| a | b |") and the rule under its header row ("| --- | :-: |"): the chunker keeps
# a table's header over each of its chunks, the extractive answerer reads each row with the header's names.
TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
TABLE_RULE = re.compile(r"^\s*\|(\s*:?-{3,}:?\s*\|)+\s*$")
# A line that starts a block of its own: a list item, a heading, a table row, a quote, a transcript turn
# ("[12:34] Ana: …") or a speaker's line ("Ana: …").
_BLOCK_START = re.compile(r"([-*+•]\s|\d+[.)]\s|#|\||>|\[|[^\W\d][\w .'’-]{0,39}:\s)")
_ENDS_LINE = (".", "!", "?", "…", ":", ";", "|")


def text_lines(text: str) -> list[str]:
    """The non-blank lines of a text, a hard-wrapped line joined to the one it continues (Markdown's
    paragraph rule): "Los datos se alojan en servidores de" + "la Unión Europea (Fráncfort)." are one
    sentence, not two halves of which neither answers "where are the data hosted?". A line continues the
    one before when that one ends without a sentence's or a clause's end and is no heading or table row,
    and it starts no block of its own."""
    lines: list[str] = []
    joinable = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            joinable = False
            continue
        if joinable and not _BLOCK_START.match(line):
            lines[-1] = f"{lines[-1]} {line}"
        else:
            lines.append(line)
        joinable = not lines[-1].endswith(_ENDS_LINE) and not lines[-1].startswith(("#", "|", "["))
    return lines


def split_sentences(text: str) -> list[str]:
    """The sentences of a retrieved chunk, without its header line."""
    body = "\n".join(CHUNK_HEADER.sub("", line) for line in text_lines(text))
    return [part.strip() for part in _SENTENCE.split(body) if part and len(part.strip()) > 2]


def spoken_sentences(text: str) -> list[str]:
    """The sentences of one transcript segment."""
    return [part.strip() for part in _SPOKEN_SENTENCE.split(text.strip()) if len(part.strip()) > 2]


def format_timestamp(seconds: float) -> str:
    """`mm:ss`, or `h:mm:ss` from an hour on."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


SPANISH_MONTHS = [
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
]


def spanish_date(day: date) -> str:
    """How indexed text and offline answers say a date: 27 de noviembre de 2026."""
    return f"{day.day} de {SPANISH_MONTHS[day.month - 1]} de {day.year}"
