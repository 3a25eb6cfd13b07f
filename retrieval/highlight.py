"""Search snippets: the part of a chunk where the query's words are, with those words marked.

What ts_headline did in the search statement, done here on the rows the statement returns. ts_headline
parses and stems every word of every chunk it is given inside PostgreSQL, ~100 µs per 1 KB chunk, so a
page of 10 took 1.1-1.4 ms of the database's CPU per search and per answer (bench/load.py); here a page
costs a fraction of that in the API process, and the database only ranks.

The words are compared as the full-text index compares them: a chunk's word, lower-cased (as written,
and with its accents folded), through its language's Snowball stemmer (the same C stemmers PostgreSQL's
`spanish` and `english` configurations use, with PostgreSQL's stop-word lists, `stopwords/`), against the
query's words through both stemmers. A chunk of no known language compares its words as they are.
"""

from __future__ import annotations

import bisect
import html
import itertools
import operator
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import Stemmer

from core.models import FOLD_FROM, FOLD_TO
from core.text import CHUNK_HEADER, fold

MAX_WORDS = 35  # words in one fragment
MAX_FRAGMENTS = 2
LEAD_WORDS = 3  # words shown before a fragment's first match
FRAGMENT_DELIMITER = " … "
MAX_PLAIN_CHARS = 300  # a snippet without a match: the start of the chunk
WORD = re.compile(r"\w+")
_STOPWORDS = Path(__file__).with_name("stopwords")
# Chunk language (chunks.language) -> Snowball algorithm, as ingestion.chunkers.detect_language names them.
STEMMED = {"es": "spanish", "en": "english"}


def _stopwords(algorithm: str) -> frozenset[str]:
    return frozenset((_STOPWORDS / f"{algorithm}.stop").read_text(encoding="utf-8").split())


STOPWORDS = {language: _stopwords(algorithm) for language, algorithm in STEMMED.items()}
_STEMMERS = {language: Stemmer.Stemmer(algorithm) for language, algorithm in STEMMED.items()}


@lru_cache(maxsize=65_536)
def lexemes(word: str, language: str) -> frozenset[str]:
    """What `word` (lower-cased) indexes as in a chunk of `language`: its stems as written and folded,
    or nothing for a stop word; the word itself (both ways) in a language without a stemmer."""
    forms = {word, fold(word)}
    stemmer = _STEMMERS.get(language)
    if stemmer is None:
        return frozenset(forms)
    if not forms.isdisjoint(STOPWORDS[language]):  # "más" is one, and so its folded "mas"
        return frozenset()
    return frozenset(stemmer.stemWord(form) for form in forms)


# Latin-1 bytes folded as the index folds text (core.models.FOLD_FROM/FOLD_TO), lower-cased: a chunk's
# text encodes to one byte per character (others become "?"), so offsets in the folded bytes are offsets
# in the text, and bytes.find looks for the query's words without a per-character Python loop.
_FOLD_BYTES = bytearray(range(256))
for _accented, _plain in zip(FOLD_FROM, FOLD_TO, strict=True):
    _FOLD_BYTES[ord(_accented)] = ord(_plain.lower())
FOLD_BYTES = bytes(_FOLD_BYTES)
# How much of a term a word must start with to be a candidate: a Snowball stem is its folded word less a
# suffix, except that English turns a final "y" into "i" ("cry" -> "cri"), so a short stem's last letter
# is not required.
PREFIX = 4


def _prefix(term: str) -> bytes:
    return fold(term)[: min(PREFIX, max(1, len(term) - 1))].encode("latin-1", "replace")


@dataclass(frozen=True)
class QueryTerms:
    """The query's words as a chunk's words are compared with them: stems under both languages (a
    Spanish chunk's word matches an English stem of the query too, as the index's lexemes do), and the
    plain words (not stop words in either language) for chunks of no known language."""

    stems: frozenset[str]
    plain: frozenset[str]
    # The words that may match: those starting with the folded start of a term (_prefix), found with
    # bytes.find in the folded text; only those are stemmed.
    prefixes: tuple[bytes, ...]

    @classmethod
    def of(cls, query: str) -> QueryTerms:
        # A stop word of either language asks for nothing: the English stem of "más" is "mas", which
        # would mark the Spanish "masa".
        words = {word for word in WORD.findall(query.lower()) if all(lexemes(word, lang) for lang in STEMMED)}
        stems = frozenset().union(*(lexemes(word, language) for word in words for language in STEMMED))
        plain = frozenset(form for word in words for form in (word, fold(word))) | stems
        prefixes = sorted({_prefix(term) for term in plain})
        # A prefix that starts another makes the longer one redundant ("ne" finds every "new").
        kept = tuple(p for p in prefixes if not any(p != q and p.startswith(q) for q in prefixes))
        return cls(stems, plain, kept)

    def match(self, word: str, language: str) -> bool:
        terms = self.stems if language in STEMMED else self.plain
        return not terms.isdisjoint(lexemes(word.lower(), language))


def _fragments(matches: dict[int, str], words: int) -> list[tuple[int, int]]:
    """Up to MAX_FRAGMENTS windows of at most MAX_WORDS words (start, end), in text order: first the one
    with the most different query words (then the most matches), then one with matches outside it.
    `matches`: the matching words' positions and what they are (folded)."""
    if words <= MAX_WORDS:
        return [(0, words)]
    windows = []
    for first in matches:
        start = max(0, min(first - LEAD_WORDS, words - MAX_WORDS))
        end = start + MAX_WORDS
        inside = [word for position, word in matches.items() if start <= position < end]
        windows.append((len(set(inside)), len(inside), -start, start, end))
    chosen: list[tuple[int, int]] = []
    for *_, start, end in sorted(windows, reverse=True):
        if len(chosen) == MAX_FRAGMENTS:
            break
        if all(end <= s or start >= e for s, e in chosen):
            chosen.append((start, end))
    return sorted(chosen)


def _word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def query_words(text: str, lowered: str, language: str, terms: QueryTerms) -> list[tuple[int, int]]:
    """Where the query's words are in `text` (`lowered` is its lower case, of the same length)."""
    folded = lowered.encode("latin-1", "replace").translate(FOLD_BYTES)
    candidates = set()
    for prefix in terms.prefixes:
        at = folded.find(prefix)
        while at != -1:
            if at == 0 or not _word_char(text[at - 1]):
                word = WORD.match(text, at)
                if word:
                    candidates.add(word.span())
            at = folded.find(prefix, at + 1)
    return sorted(span for span in candidates if terms.match(text[span[0] : span[1]], language))


def snippet(content: str, language: str, terms: QueryTerms) -> tuple[str, list[str]]:
    """HTML-safe snippet of `content` (without its "[type › title]" header line) with <mark> around the
    query's words, and those words (lower-cased, sorted); the start of the text when none is there.

    Works on the text with its spaces collapsed (a snippet shows one line), split at spaces into the
    words that fragments count; the marked words are the query's words inside them."""
    text = " ".join(CHUNK_HEADER.sub("", content, count=1).split())
    lowered = text.lower()
    if len(lowered) != len(text):  # a letter whose lower case is longer ("İ"): keep the offsets
        lowered = "".join(ch.lower()[0] for ch in text)
    found = query_words(text, lowered, language, terms)
    if not found:
        return html.escape(text[:MAX_PLAIN_CHARS] + ("…" if len(text) > MAX_PLAIN_CHARS else "")), []
    pieces = text.split(" ")
    # Each word's offset: the lengths plus one space each, summed (C iterators, no Python loop).
    starts = list(
        itertools.accumulate(map(operator.add, map(len, pieces[:-1]), itertools.repeat(1)), initial=0)
    )
    matches = {bisect.bisect_right(starts, start) - 1: fold(text[start:end]) for start, end in found}
    parts, shown = [], set()
    for first, last in _fragments(matches, len(pieces)):
        begin, finish = starts[first], starts[last - 1] + len(pieces[last - 1])
        cursor, out = begin, []
        for start, end in found:
            if begin <= start < finish:
                shown.add(text[start:end].lower())
                out += [html.escape(text[cursor:start]), "<mark>", html.escape(text[start:end]), "</mark>"]
                cursor = end
        out.append(html.escape(text[cursor:finish]))
        parts.append("".join(out))
    return FRAGMENT_DELIMITER.join(parts), sorted(shown)
