"""The answering task: numbered sources in, an answer that cites them as [n] out, streamed.

`LLMAnswerer` streams a chat model's answer to the rendered prompt. `ExtractiveAnswerer` is the offline
implementation, not a language model: it quotes the retrieved sentences that best match the question,
each with its citation."""

from __future__ import annotations

import asyncio
import math
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, replace
from typing import Protocol

from core.i18n import index_text
from core.providers.llm import ChatModel, ContextPassage, Generation, Usage
from core.text import (
    CHUNK_HEADER,
    FOLDED_STOPWORDS,
    TABLE_ROW,
    TABLE_RULE,
    content_terms,
    fold,
    header_parts,
    split_sentences,
    text_lines,
    words,
)


class Answerer(Protocol):
    provider: str
    model: str

    def answer(self, generation: Generation, usage: Usage) -> AsyncIterator[str]:
        """The answer's text as it is produced; counts tokens into `usage`."""
        ...


class LLMAnswerer:
    def __init__(self, model: ChatModel) -> None:
        self.chat = model
        self.provider = model.provider
        self.model = model.model

    def answer(self, generation: Generation, usage: Usage) -> AsyncIterator[str]:
        return self.chat.stream(generation, usage)


@dataclass(frozen=True)
class Extract:
    n: int
    sentence: str
    score: float
    position: tuple[int, int] = (0, 0)  # (line, sentence) inside its passage: quotes keep their order
    # Gives what is asked on the question's subject: for a price, money said on it (or in reply to a turn
    # that asked); for a count, a number of what is counted; for "who", someone. True for other questions.
    topical: bool = True
    report: bool = False  # the asked person's own report of what they did, at the latest meeting


@dataclass(frozen=True)
class _Sentence:
    n: int
    rank: int  # the passage's rank
    line: int  # a transcript turn is one line
    index: int
    text: str
    terms: frozenset[str]
    section: frozenset[str] = frozenset()  # the words of the document section it sits in
    latest: bool = False  # from the latest of the passages' meetings (documents are from none)
    speaker: str = ""  # the folded first name of the turn's speaker ("olga"), for a transcript's turns

    @property
    def is_question(self) -> bool:
        return self.text.rstrip().endswith("?") or self.text.lstrip().startswith("¿")

    @property
    def trails_off(self) -> bool:
        """ "Elena, el Excel de socios...": a turn left open for the next speaker to take up."""
        return self.text.rstrip().endswith(("...", "…"))


# What kind of answer a question wants, and what a sentence that gives it contains.
# What someone charges for their work, asked as a price: "¿Qué comisión se lleva…?", "¿Qué caché cobra…?".
_FEES = r"comisi[óo]n|cach[ée]|honorarios|commission"
_WANTS_AMOUNT = re.compile(
    r"\b(cu[áa]nt[oa]s?|importe|precio|cuesta|cost[eóo]|tarifa|presupuesto|porcentaje|descuento|"
    rf"{_FEES}|how (much|many)|price|cost)\b",
    re.IGNORECASE,
)
_WANTS_DATE = re.compile(r"\b(cu[áa]ndo|fecha|qu[ée] d[íi]a|plazo|when|date|deadline)\b", re.IGNORECASE)
_WANTS_PERSON = re.compile(r"\b(qui[ée]n(es)?|who|c[óo]mo se llama|what is the name)\b", re.IGNORECASE)
# "¿Mandó Elena las fotos?", "Has the DUNS number arrived?": a question without a question word asks
# whether something happened, and the commitment ledger's line ("…; estado: cumplido, «…»") says so.
_QUESTION_WORD = re.compile(
    r"\b(qué|cuál(es)?|cuánt[oa]s?|cuándo|dónde|cómo|quién(es)?|"  # accented: "como dijo" asks nothing
    r"what|which|how|when|where|who|whom|whose|why)\b",
    re.IGNORECASE,
)
# Typed without accents, a question word still opens the question: "en que academia se hace el piloto?",
# "donde se hace la formacion" (users do not always type accents; inside a sentence "como" and "que" are
# mostly not question words, so only at the start, after a preposition at most).
_OPENING_QUESTION_WORD = re.compile(
    r"^\W*(?:(?:a|al|de|del|en|con|para|por|desde|hasta|sobre|y)\s+)?"
    r"(?:que|cual(?:es)?|cuant[oa]s?|cuando|donde|adonde|como|quien(?:es)?)\b",
    re.IGNORECASE,
)
# "Precio del módulo de prueba de nivel?", "Fecha de lanzamiento?": a question that names what it wants
# without a verb asks for it, not whether something happened.
_NAMES_WHAT_IT_WANTS = re.compile(
    r"^\W*(?:(?:el|la|los|las|the)\s+)?(?:precio|coste|costo|importe|tarifa|presupuesto|fecha|plazo|"
    r"nombre|n[úu]mero|cantidad|price|cost|fee|date|deadline|name|number)\b",
    re.IGNORECASE,
)
# The nouns that ask for a price (a budget is a thing: "el presupuesto firmado" names what is asked about).
_PRICE_NOUNS = rf"precio|coste|costo|importe|tarifa|{_FEES}|price|cost|fee"
_STARTS_WITH_PRICE = re.compile(rf"^\W*(?:(?:el|la|the)\s+)?(?:{_PRICE_NOUNS})\b", re.IGNORECASE)
# "Reunión «Seguimiento de la campaña: CRM, lema y oferta».": the meeting's record names it, and answers
# only a question about the meeting itself, however many of the question's words its title holds.
_BEFORE_TITLE, _AFTER_TITLE, _ = index_text("index.meeting_facts", title="\x00", status="\x00").split("\x00")
_MEETING_LABEL = re.compile(re.escape(_BEFORE_TITLE) + ".+?" + re.escape(_AFTER_TITLE.split()[0]))
_ASKS_MEETING = re.compile(r"\b(reuni[óo]n\w*|meetings?)\b", re.IGNORECASE)
MEETING_LABEL_PENALTY = 0.3
# "¿Qué lema lleva al final la campaña?": where things ended up is said in the latest meeting (meetings dev
# set: 1.3 to 2.0 score the same; making the earlier meetings' sentences weaker as well adds nothing).
LATEST_FACTOR = 1.5
_WANTS_LATEST = re.compile(
    r"\b(al final|finalmente|en qu[ée] qued\w*|c[óo]mo qued\w*|qu[ée] se decidi[óo]|definitiv\w*|"
    r"in the end|finally|ended up|eventually)\b",
    re.IGNORECASE,
)
# Which of the proposals they chose is said where they chose it, after the meeting that proposed them;
# unless the question names that first meeting ("¿Qué proveedor se eligió en el arranque?").
_CHOSE = re.compile(r"\b(eligi\w*|escogi\w*|choose|chose|chosen)\b", re.IGNORECASE)
_NAMES_FIRST = re.compile(
    r"\b(arranque|primer\w*|principio|inicial\w*|original\w*|kick-?off|first|originally)\b", re.IGNORECASE
)
_LEDGER_STATUS = re.compile(re.escape(index_text("index.item_status", status="\x00")).replace("\x00", r"\w+"))
# "¿Qué plataforma…?", "¿Con qué plugin…?", "Which tool…?": the answer names something.
_WANTS_NAME = re.compile(r"(\bqu[ée]|\bcu[áa]l(es)?|\bwhich|\bwhat)\s+\w+", re.IGNORECASE)
_NUMBER_WORDS = (
    r"un[oa]?|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez|once|doce|trece|catorce|quince|"
    r"diecis[ée]is|diecisiete|dieciocho|diecinueve|veint\w*|treinta|cuarenta|cincuenta|sesenta|setenta|"
    r"ochenta|noventa|cien|ciento|\w+cientos|mil|mill[óo]n\w*|medio|media|"
    r"one|two|three|four|five|six|seven|eight|nine|ten|twenty|thirty|forty|fifty|hundred|thousand"
)
_NUMBER = re.compile(rf"\d|\b(?!(?:un[oa]?|medi[oa])\b)({_NUMBER_WORDS})\b", re.IGNORECASE)
_AMOUNT = re.compile(rf"\d|%|€|\beuros?\b|\b({_NUMBER_WORDS})\b", re.IGNORECASE)
_DATE = re.compile(
    r"\d|\b(lunes|martes|mi[ée]rcoles|jueves|viernes|s[áa]bado|domingo|enero|febrero|marzo|abril|mayo|"
    r"junio|julio|agosto|septiembre|octubre|noviembre|diciembre|mañana|semana|mes|monday|tuesday|"
    r"wednesday|thursday|friday|january|february|march|april|june|july|august|september|october|"
    r"november|december|week|month)\b",
    re.IGNORECASE,
)
_NAME = re.compile(r"(?<![.¿?!]\s)(?<!^)\b[A-ZÁÉÍÓÚÑ][a-záéíóúñ]{2,}")
# The line a transcript window and the indexer write before every turn: "[12:34] Ana: ".
_TURN = re.compile(r"^\[\d+(?::\d\d){1,2}\]\s*")
_TURNS = re.compile(_TURN.pattern, re.MULTILINE)
ANSWER_AFTER_QUESTION = 0.8  # a question in a conversation is answered by the next turns
QUESTION_PENALTY = 0.25
# A sentence that adds fewer than ECHO_NEW_TERMS words to the question's own ("Reunión «Arranque de la web»."
# for a question about the kick-off) says little the question did not.
ECHO_PENALTY = 0.5
ECHO_NEW_TERMS = 2
LEAD_IN_PENALTY = 0.5  # a sentence of a turn that ends asking: it leads into the question
# A further sentence is quoted only when it scores at least this share of the best one.
KEEP_SHARE = 0.6
# Sentences quoted (those within KEEP_SHARE of the best), at most MAX_SENTENCES: the first ANSWER_SENTENCES
# make the answer, or its silence when none gives what is asked; those after add to an answer made, never
# make one. The fourth raised the key facts of the five meetings sets' answerable questions, replayed over
# their retrieved passages, from 0.84 / 0.75 / 0.64 / 0.59 / 0.54 to 0.85 / 0.77 / 0.72 / 0.62 / 0.59; as a
# fourth that could make an answer, it also answered one of reuniones-f's unanswerable questions
# (docs/evals.md).
MAX_SENTENCES = 4
ANSWER_SENTENCES = 3
NAMES_SOMETHING = 1.3  # a "what/which" question's sentence that names something new
LEDGER_ANSWERS_STATUS = 1.6  # a ledger line, for a question whether something was done
SECTION_WEIGHT = 0.5  # a question's word in the heading of a sentence's section counts half
# Another meeting's best sentence is quoted from this share of the best one (meetings dev set: 0.2 to 0.5
# score the same, 0.7 loses the gain).
ANOTHER_MEETING_SHARE = 0.5
EVIDENCE_SENTENCES = 2  # of the turn a ledger line's evidence was said in, after it
TOPIC_TURNS = 2  # the turns after one that names the question's subject still speak of it
# What a report of one's own action says: a first-person past ("lo mandé", "pedí", "hice") or "ya está".
_FIRST_PAST = r"\b(?!(?:qu|aqu|as|all|ah|s|m|t|caf|beb)[éí]\b)\w+[éí]\b"
_THIRD_PAST = r"\b\w+ó\b"
_DONE = r"\b(?:ya está|hech[oa]s?|list[oa]s?)\b"
_REPORT = re.compile(
    rf"{_FIRST_PAST}|\b(?:hice|fui|puse|dije|traje|tuve|estuve|pude)\b|{_DONE}", re.IGNORECASE
)
# ... or what another says of it, naming them: "Patxi, el plano me llegó el lunes diecinueve", "la ruta de
# Lourdes también está: la mandó al día siguiente".
_REPORTED = re.compile(f"{_THIRD_PAST}|{_DONE}", re.IGNORECASE)
# The past verbs of a report, to tell whose action it is ("mandé", "mandó" for "¿Mandó…?"; not "la lista").
_PAST_VERB = re.compile(f"{_FIRST_PAST}|{_THIRD_PAST}", re.IGNORECASE)
_QUOTE = re.compile(r"«([^»]+)»")


def _sentences(passages: list[ContextPassage]) -> list[_Sentence]:
    found = []
    last = max((p.when for p in passages if p.when), default=None)
    for rank, passage in enumerate(passages):
        latest = passage.when is not None and passage.when == last
        lines = text_lines(passage.text)
        section: frozenset[str] = frozenset()
        columns: list[str] | None = None  # the header row of the table the lines are in
        for line_index, line in enumerate(lines):
            if line_index == 0 and CHUNK_HEADER.fullmatch(line):
                section = _section_terms(line)
                continue  # the "[type › title]" header
            if not TABLE_ROW.match(line):
                columns = None
            elif TABLE_RULE.match(line):
                continue  # "| --- | --- |": the line under a table's header row
            elif line_index + 1 < len(lines) and TABLE_RULE.match(lines[line_index + 1]):
                columns = _table_cells(line)
                continue  # a header row names the columns and answers nothing by itself
            elif columns is not None:
                line = _labelled_row(columns, _table_cells(line))
            said = _TURN.sub("", line)
            named = _SPEAKER.match(said) if said != line or passage.meeting else None
            speaker = fold(named.group(0).split()[0].rstrip(":")) if named else ""
            for index, sentence in enumerate(split_sentences(said)):
                terms = frozenset(content_terms(sentence))
                found.append(
                    _Sentence(
                        passage.n, rank, line_index, index, sentence, terms, section - terms, latest, speaker
                    )
                )
    return found


def _table_cells(row: str) -> list[str]:
    """The cells of a Markdown table row ("| a | b |")."""
    return [cell.strip() for cell in row.strip()[1:-1].split("|")]


def _labelled_row(columns: list[str], cells: list[str]) -> str:
    """A table row read with its columns' names: "| Jerez | calle Larga, 55 | 290 |" under "| academia |
    dirección | alumnos |" says "academia: Jerez; dirección: calle Larga, 55; alumnos: 290", which
    answers "how many students does Jerez have?" where the bare row holds none of its words. One sentence
    (the semicolons do not split it)."""
    if len(columns) != len(cells):
        return " | ".join(cells)
    pairs = zip(columns, cells, strict=True)
    return "; ".join(f"{column}: {cell}" if column else cell for column, cell in pairs if cell)


def _section_terms(header: str) -> frozenset[str]:
    """The words of the section headings in a document chunk's header, "[Documento › <document title> ›
    <title> › Mantenimiento]": what every sentence under "## Mantenimiento" is about without saying it
    ("Opcional, desde la publicación: 450 € al mes" answers what maintenance costs). Other chunks' headers
    name the meeting or the item, not a section, and lend nothing."""
    return frozenset(content_terms(" ".join(header_parts(header)[3:])))


# A price is asked for in money: "¿Cuánto cuesta la punción seca?" is not answered by "treinta minutos".
# "¿Cuánto cobra Pelayo por un día extra?", "¿Cuánto pagan al mes?": what is charged or paid is money too.
_CHARGES = r"cobr\w*|pag(?:a|an|amos|ó|o|aron|ar|ará|arán|aría|ado|ada)|charges?|charged|pays?|paid"
_WANTS_MONEY = re.compile(
    rf"\b(cuest\w*|cost\w*|precio|tarifa|importe|presupuesto|{_FEES}|price|rate|fee|budget|{_CHARGES}|"
    r"cu[áa]nto (?:nos |os |me |te |le |les )?(?:sale|salen|saldr[áa]n?|saldr[íi]a))\b",
    re.IGNORECASE,
)
# The words that ask for a price without naming what has it, and the units a price is per ("¿Cuánto cuesta
# la API al mes?" is not about what else costs a month).
_PRICE_WORD = re.compile(
    rf"\b(cuest\w*|cost\w*|{_PRICE_NOUNS}|{_CHARGES}|"
    r"(?:al|por|a la|per|a) (?:mes|año|a[ñn]o|hora|d[íi]a|semana|persona|month|year|hour|day|week|person))\b",
    re.IGNORECASE,
)
# ... and a price is what the question asks for, not a word it mentions ("¿Quién envía el presupuesto?").
_ASKS_PRICE = re.compile(
    r"\b(cu[áa]nt[oa]s?|how much)\b|"
    rf"\b(qu[ée]|cu[áa]l(es)?|what|which)\b[^?]{{0,20}}\b({_PRICE_NOUNS}|rate)\b",
    re.IGNORECASE,
)
# "¿Cuántas piezas entran en el precio?" counts pieces: the price is what it is about, not what it asks.
_COUNTS = re.compile(r"\b(?:cu[áa]nt[oa]s|how many)\s+(?!euros\b|d[óo]lares\b|dollars\b)(\w+)", re.IGNORECASE)
# "¿Qué marca de pienso…?", "¿De qué color va a ser la lata?", "¿Qué mojo lleva, rojo o verde?": a thing the
# answer must name, or one of the choices the question ends with.
_ASKS_BRAND = re.compile(r"\b(?:qu[ée]|which|what)\s+(?:marca|modelo|brand|model)s?\b", re.IGNORECASE)
_ASKS_COLOUR = re.compile(r"\b(?:qu[ée]|which|what)\s+(?:colou?r(?:es)?)\b", re.IGNORECASE)
_COLOUR = re.compile(
    r"\b(rojo|roja|verde|azul|amarill[oa]|negr[oa]|blanc[oa]|gris|naranja|morad[oa]|rosa|marr[óo]n|dorad[oa]|"
    r"platead[oa]|granate|burdeos|beige|turquesa|violeta|crema|ocre|red|green|blue|yellow|black|white|grey|gray|"
    r"orange|purple|pink|brown|gold|silver)s?\b",
    re.IGNORECASE,
)
_OPTIONS = re.compile(r",\s*(\w+)\s+(?:o|u|or)\s+(\w+)\s*\??\s*$", re.IGNORECASE)


# "¿Cuánto cobra Colonya por cada pago?", "¿Qué comisión se lleva GetYourGuide?": a price a named party
# charges is said of that party, not of the agency's own line for the same work ("Pago con tarjeta: 1.100 €").
_CHARGED_BY = re.compile(r"\b(?:cobra\w*|se lleva\w*|charges?)\s+([A-ZÁÉÍÓÚÑ][\w-]+)")


def _said_of(party: str, extract: Extract, sentences: list[_Sentence]) -> bool:
    """The party charging is named in the extract's turn or line, or in the one before it (it asked)."""
    if not party:
        return True
    line = extract.position[0]
    return any(s.n == extract.n and s.line in (line, line - 1) and party in words(s.text) for s in sentences)


def _thing_asked(question: str) -> str:
    if _ASKS_BRAND.search(question):
        return "brand"
    return "colour" if _ASKS_COLOUR.search(question) else ""


_ASKS_WHO = re.compile(r"^\W*(?:(?:a|con|de|para|por|y)\s+)?(?:qui[ée]n(?:es)?|who|whom)\b", re.IGNORECASE)
_OPENING_NAME = re.compile(r"\W*([A-ZÁÉÍÓÚÑ][a-záéíóúñ]{2,})\b")
_FIRST_PERSON = re.compile(r"\b(yo|me|m[íi]|conmigo|nosotr[oa]s|nos|i|my|we|us)\b", re.IGNORECASE)
# A count is said next to what it counts: "seis academias", "290 alumnos", "alumnos: 290" (a table row read
# with its header), "cuarenta preguntas por idioma": at most this many words apart.
COUNT_REACH = 3
_MONEY = re.compile(
    r"[€$]|\b(?:euros?|c[ée]ntimos?|d[óo]lares|dollars?|cents?|eur)\b|\b\d{1,3}(?:[.,]\d{3})+\b",
    re.IGNORECASE,
)
# A commission is a share of what is paid: "¿Qué comisión se lleva?" - "un quince por ciento". Only then: a
# budget question is not answered by "50 % a la firma".
_ASKS_SHARE = re.compile(r"\b(comisi[óo]n\w*|commissions?|porcentaje|percentage)\b", re.IGNORECASE)
_SHARE = re.compile(r"%|\b(?:por ciento|percent)\b", re.IGNORECASE)
# A price said without its currency, as a rate: "Cuarenta y dos al mes", "cincuenta y cinco la hora".
_RATE = re.compile(
    rf"(?:\d|\b(?:{_NUMBER_WORDS}))\s+"
    r"(?:al (?:mes|año|día)|a la (?:hora|semana)|la hora|por (?:hora|persona|mes))\b",
    re.IGNORECASE,
)


# A budget as it stands is said as a sum, at the meeting that changed it, mostly without the question's words:
# "Entonces el total pasa de catorce mil seiscientos a quince mil novecientos", "Entonces: catorce mil
# trescientos, más mil cien del regalo, menos setecientos del boletín. Catorce mil setecientos.", and agreed
# with its figure: "15.900. Vale, lo aprobamos." (each of the five meetings sets' budget questions).
# "¿Cuánto cuesta la app con los cambios?", "…después de los cambios?": the whole amount as it stands.
_ASKS_TOTAL = re.compile(
    r"\b(presupuesto|total|budget)\b|\b(con|despu[ée]s de|tras) (todos )?los cambios\b", re.IGNORECASE
)
# The words that ask for the whole amount as it stands, not what it is of.
_TOTAL_WORDS = re.compile(
    rf"{_ASKS_TOTAL.pattern}|{_WANTS_LATEST.pattern}|\b(cu[áa]nto|actual\w*|ahora|now|current\w*|"
    r"qued\w*|cambi\w*|despu[ée]s|desde|sub\w*|baj\w*|en)\b|\b(cuest\w*|cost\w*|precio|importe)\b",
    re.IGNORECASE,
)
_THOUSANDS = re.compile(r"\b\d{1,3}(?:[.,]\d{3})+\b|\bmil\b|\bthousand\b", re.IGNORECASE)
_SUMS_UP = re.compile(
    r"\btotal\b|\bpresupuesto\b|\bbudget\b|\bqued\w* en\b|\bpasa de\b|\bsube a\b|\bbaja a\b|"
    r"\bcomes to\b|\bgoes (up|down) to\b|"
    r"^\W*(entonces|so)\b|\b(m[áa]s|plus)\b.*\b(m[áa]s|menos|plus|minus)\b",
    re.IGNORECASE,
)
_AGREES_FIGURE = re.compile(
    r"^\W*\d{1,3}(?:[.,]\d{3})+\b[.…,]*\s*(vale|bien|perfecto|de acuerdo|ok|aprobad\w*|fine|agreed)\b",
    re.IGNORECASE,
)


_BARE_FIGURE = re.compile(r"\W*\d{1,3}(?:[.,]\d{3})+\W*")


def _spoken(line: str) -> str:
    """What a transcript line or sentence says, without its stamp and speaker."""
    return _SPEAKER.sub("", _TURN.sub("", line))


def _agrees_figure(sentence: str) -> bool:
    """ "13.550. Vale." (a turn read whole), "13.550." (its first sentence): a figure said back."""
    said = _spoken(sentence)
    return bool(_AGREES_FIGURE.match(said) or _BARE_FIGURE.fullmatch(said))


def states_total(sentence: str) -> bool:
    """The sentence sums up an amount in the thousands ("el total queda en dieciocho mil doscientos"; "nueve
    mil cien de partida, más seiscientos…, menos quinientos"), names a budget with one ("el presupuesto nuevo
    de siete mil quinientos setenta") or agrees to one ("9.650. Bien.")."""
    said = _spoken(sentence)
    return bool(_THOUSANDS.search(said) and _SUMS_UP.search(said)) or bool(_AGREES_FIGURE.match(said))


@dataclass(frozen=True)
class Asked:
    """What kind of thing a question asks for, read once per question (every sentence is then checked
    against it): an amount (money for a price), a date, a person, a name, or whether something was done."""

    amount: bool
    money: bool
    price: bool  # money is what it asks for ("¿Cuánto cuesta…?", "¿Cuál es el precio…?")
    date: bool
    person: bool
    name: bool
    status: bool
    latest: bool  # where things ended up: "¿En qué quedó…?", "al final", "finally"
    who: bool  # "¿Quién…?" opens the question: it asks for a person
    total: bool  # the whole amount as it stands: "presupuesto actual", "¿cuánto cuesta con los cambios?"
    counted: str  # what "¿Cuántos profesores…?" counts, as a term ("profe"); "" when it counts nothing
    thing: str  # what a "which" question wants named: a "brand" (or model), a "colour"; "" otherwise
    options: tuple[str, ...]  # the choices it ends with ("…, rojo o verde?"), folded
    share: bool  # a commission or a percentage: a share answers it as well as money
    party: str  # who charges, as the question names them ("¿Cuánto cobra Colonya…?" -> "colonya"); folded
    words: frozenset[str]  # the question's words, lower-cased: a name it already says is nothing new

    @classmethod
    def of(cls, question: str) -> Asked:
        amount = bool(_WANTS_AMOUNT.search(question))
        person = bool(_WANTS_PERSON.search(question))
        counts = _COUNTS.search(question)
        money = amount and bool(_WANTS_MONEY.search(question)) and not counts
        counted = content_terms(counts.group(1)) if counts else ()
        asks = (
            _QUESTION_WORD.search(question)
            or _OPENING_QUESTION_WORD.search(question)
            or _NAMES_WHAT_IT_WANTS.search(question)
        )
        latest = bool(_WANTS_LATEST.search(question)) or bool(
            _CHOSE.search(question) and not _NAMES_FIRST.search(question)
        )
        date = bool(_WANTS_DATE.search(question))
        choices = _OPTIONS.search(question)
        return cls(
            amount=amount,
            money=money,
            price=money
            and not person
            and bool(_ASKS_PRICE.search(question) or _STARTS_WITH_PRICE.search(question)),
            date=date,
            person=person,
            name=not person and bool(_WANTS_NAME.search(question)),
            status=not asks,
            latest=latest,
            counted=_singular(counted[0]) if counted else "",
            thing=_thing_asked(question),
            options=tuple(fold(option.lower()) for option in choices.groups()) if choices else (),
            share=bool(_ASKS_SHARE.search(question)),
            party=fold(charged_by.group(1)) if (charged_by := _CHARGED_BY.search(question)) else "",
            who=bool(_ASKS_WHO.match(question)),
            total=money and not person and not date and (latest or bool(_ASKS_TOTAL.search(question))),
            words=frozenset(word.lower() for word in re.findall(r"\w+", question)),
        )

    def fit(self, sentence: str) -> float:
        """How well a sentence has what is asked (a factor on its score)."""
        factor = 1.0
        if self.money:  # "un módulo nuevo" has an "un", not a price
            said = _SPEAKER.sub("", sentence)
            factor *= 1.6 if self._money(said) else 1.0 if _NUMBER.search(said) else 0.6
        elif self.amount:
            factor *= 1.6 if _AMOUNT.search(_SPEAKER.sub("", sentence)) else 0.6
        if self.date:
            factor *= 1.5 if _DATE.search(sentence) else 0.7
        if self.person:
            factor *= 1.3 if _names_person(sentence) else 0.8
        elif self.name and self._names_new(sentence):
            factor *= NAMES_SOMETHING
        if self.options or self.thing:
            factor *= 1.5 if self.names_the_thing(sentence) else 0.7
        if self.status and _LEDGER_STATUS.search(sentence):
            factor *= LEDGER_ANSWERS_STATUS
        return factor

    @property
    def kind(self) -> bool:
        """It asks for an amount, a date or a person: what a search result can be seen to hold."""
        return self.amount or self.date or self.person

    def names_the_thing(self, sentence: str) -> bool:
        """The sentence says one of the choices the question offers, the colour or the brand it asks
        for: "de qué color va a ser la lata" is not answered by "la paleta de color por cerveza"."""
        if self.options:
            said = set(words(fold(_SPEAKER.sub("", sentence).lower())))
            return any(option in said for option in self.options)
        if self.thing == "colour":
            return bool(_COLOUR.search(sentence))
        return self._names_new(sentence)

    def held_in(self, chunk: str) -> bool:
        """Some line of a chunk (its header and turn stamps aside) holds what is asked (held_by)."""
        body = CHUNK_HEADER.sub("", chunk, count=1)
        if self.amount or self.date:  # one search over the whole text (a search result is read per query)
            return self.held_by(_TURNS.sub("", body))
        # A name is read line by line: each turn starts with its speaker's, which is no answer.
        return any(self.held_by(_TURN.sub("", line)) for line in body.splitlines() if line.strip())

    def held_by(self, sentence: str) -> bool:
        """Whether the sentence has the kind of thing asked: money for a price, an amount for "how
        many", a date for "when", a name for "who"; any sentence for other questions."""
        if self.money:
            return self._money(sentence)
        if self.amount:
            return bool(_AMOUNT.search(_SPEAKER.sub("", sentence)))
        if self.date:
            return bool(_DATE.search(sentence))
        if self.person:
            return _names_person(sentence)
        return True

    def _money(self, sentence: str) -> bool:
        # A rate ("treinta al mes") prices a thing, not a budget's total.
        rate = not self.total and _RATE.search(sentence)
        return bool(_MONEY.search(sentence) or rate or (self.share and _SHARE.search(sentence)))

    def gives(self, sentence: str) -> bool:
        """The sentence holds the kind of thing asked (held_by; for "what/which", a name it brings);
        False for a question that asks for no kind."""
        if self.name:
            return self._names_new(sentence)
        return self.kind and self.held_by(sentence)

    def names_someone(self, sentence: str, *, replies: bool) -> bool:
        """The sentence names a person, or its speaker speaks of themself ("Las reviso yo"), or replies
        to the turn that asked, or it is a ledger line (its owner leads it)."""
        body = _SPEAKER.sub("", sentence)
        if _names_person(sentence) or _LEDGER_STATUS.search(sentence):
            return True
        opening = _OPENING_NAME.match(body)  # "Ana enviará la factura": not "La traducción…"
        if opening and fold(opening.group(1)) not in FOLDED_STOPWORDS:
            return True
        return body != sentence and (replies or bool(_FIRST_PERSON.search(body)))

    def counts(self, sentence: str) -> bool:
        """The sentence gives a number of what the question counts, said within COUNT_REACH words of it
        ("Tenemos seis academias" counts academies, not the teachers asked about)."""
        said = words(_SPEAKER.sub("", sentence))
        places = [i for i, word in enumerate(said) if _singular(word[:5]) == self.counted]
        numbers = [i for i, word in enumerate(said) if _NUMBER.fullmatch(word) or word.isdigit()]
        return any(abs(i - j) <= COUNT_REACH for i in places for j in numbers)

    def _names_new(self, sentence: str) -> bool:
        """The sentence names something (a capitalised word inside it) the question does not."""
        return any(m.group(0).lower() not in self.words for m in _NAME.finditer(_SPEAKER.sub("", sentence)))


def rank_sentences(question: str, passages: list[ContextPassage]) -> list[Extract]:
    """Score every sentence of the passages by its overlap with the question (IDF-weighted over the
    passages), how well it has what the question asks for, and the rank of its passage. Conversations
    are read as such: a sentence that asks the question is a poor answer, and lends its score to the
    turns that follow it, where the answer usually is."""
    return _rank(question, Asked.of(question), _sentences(passages))


def _rank(question: str, wants: Asked, sentences: list[_Sentence]) -> list[Extract]:
    # "al final", "¿en qué quedó…?" say which meeting's word counts, not what the answer is about: their
    # words ("final", "quedó") would match "informe final" or "lo que quedó pendiente".
    query = set(content_terms(_WANTS_LATEST.sub(" ", question) if wants.latest else question))
    if not query or not sentences:
        return []
    document_frequency = Counter(term for sentence in sentences for term in sentence.terms)
    total = len(sentences)
    # What the question is about, without the words that ask for its kind: "¿Y cuánto cuesta cada SMS?"
    # shares only "cuesta" with "¿Cuánto cuesta una sesión de punción seca?", and its reply's price is
    # not the session's.
    topic = query - set(content_terms(" ".join(m.group(0) for m in _PRICE_WORD.finditer(question))))

    def overlap_score(sentence: _Sentence, words: set[str]) -> float:
        overlap = words & sentence.terms  # summed in one order, so that ties stay ties
        weight = sum(math.log(1 + total / document_frequency[t]) for t in sorted(overlap))
        weight += SECTION_WEIGHT * sum(
            math.log(1 + total / (document_frequency[t] or 1)) for t in sorted(words & sentence.section)
        )
        return weight / math.sqrt(len(sentence.terms) + 1)

    overlap_scores = [overlap_score(sentence, query) for sentence in sentences]
    topic_scores = overlap_scores if topic == query else [overlap_score(s, topic) for s in sentences]
    # A turn that ends with a question asks, with all its words: "Siguiente: los tipos de cita.
    # ¿Cuáles tenéis?" asks about the types of appointment, and its first sentence is no answer either.
    turns: dict[tuple[int, int], list[int]] = {}
    for i, sentence in enumerate(sentences):
        turns.setdefault((sentence.n, sentence.line), []).append(i)
    asking = {
        key
        for key, members in turns.items()
        if sentences[members[-1]].is_question or sentences[members[-1]].trails_off
    }
    borrowed = [0.0] * len(sentences)
    replies_who = [False] * len(sentences)  # in reply to a turn that asked who (read for a "who" question)
    for (n, line), members in turns.items():
        asked = sum(topic_scores[i] for i in members)
        if (n, line) not in asking or not asked:
            continue
        who = wants.who and bool(_WANTS_PERSON.search(sentences[members[-1]].text))
        # The next two turns of the same passage answer it (the first more likely than the second).
        later = [j for j in range(members[-1] + 1, len(sentences)) if sentences[j].n == n]
        following = _next_turns((sentences[j] for j in later), line, 2)
        for j in later:
            if sentences[j].line in following and not sentences[j].is_question:
                decay = 1.0 if sentences[j].line == following[0] else 0.6
                borrowed[j] = max(borrowed[j], ANSWER_AFTER_QUESTION * decay * asked)
                replies_who[j] = replies_who[j] or who
    # For a price question (only its answer is checked for it): the turns that are about what it asks, and
    # the two after each, since a conversation names its subject once ("¿Y Octorate?" - "Treinta y nueve
    # euros al mes por casa."). Plurals count as their singular here ("casas", "casa": the 5-letter
    # prefixes differ).
    on_topic: set[tuple[int, int]] = set()
    if wants.price:
        subject = {_singular(term) for term in topic}
        on_topic = {
            (sentence.n, line)
            for sentence in sentences
            if subject & {_singular(term) for term in sentence.terms | sentence.section}
            for line in range(sentence.line, sentence.line + 1 + TOPIC_TURNS)
        }
    # "¿Mandó Olga el listado?": the answer is Olga's own report at a later meeting ("Lo mandé el viernes
    # veintitrés, como dije. Ciento cuarenta y tres clínicas…"), which shares few words with the question:
    # her first-person past in the latest meeting, or another's past naming her, in a turn on the
    # question's subject or replying to one.
    named = {fold(word) for word in wants.words}
    reporter = {s.speaker for s in sentences if s.speaker} & named if wants.status else set()
    turn_topic = (
        {key: sum(topic_scores[i] for i in members) for key, members in turns.items()} if reporter else {}
    )

    def reports(i: int, sentence: _Sentence) -> bool:
        if not (sentence.latest and (turn_topic[(sentence.n, sentence.line)] > 0 or borrowed[i] > 0)):
            return False
        body = _SPEAKER.sub("", sentence.text)
        if sentence.speaker in reporter:
            return bool(_REPORT.search(body))
        return bool(reporter & set(words(body))) and bool(_REPORTED.search(body))

    extracts = []
    for i, sentence in enumerate(sentences):
        score = overlap_scores[i] + borrowed[i]
        report = bool(reporter) and reports(i, sentence)
        if report and not score:
            extracts.append(
                Extract(sentence.n, sentence.text, 0.0, (sentence.line, sentence.index), report=True)
            )
        if not score:
            continue
        if sentence.is_question:
            score *= QUESTION_PENALTY
        elif (sentence.n, sentence.line) in asking:
            score *= LEAD_IN_PENALTY
        # "¿Quién va a aprobar los textos?" - "Nuria.": a reply that gives what was asked is neither too
        # short nor an echo of the question.
        replies = borrowed[i] > 0 and wants.gives(sentence.text)
        if len(sentence.text.split()) < 4 and not replies:
            score *= 0.5
        if len(sentence.terms - query) < ECHO_NEW_TERMS and not replies:
            score *= ECHO_PENALTY
        if _MEETING_LABEL.fullmatch(sentence.text) and not _ASKS_MEETING.search(question):
            score *= MEETING_LABEL_PENALTY
        if wants.latest and sentence.latest:
            score *= LATEST_FACTOR
        score = score * wants.fit(sentence.text) + 0.3 / (1 + sentence.rank)
        if wants.who:
            # A reply names someone only to a turn that asked who ("¿Quién lo traduce?" - "Nuria."), not
            # to "¿Y el francés?" - "El francés son mil trescientos euros más".
            topical = wants.names_someone(sentence.text, replies=replies_who[i])
        elif wants.counted:  # a count of what is asked, or a number in reply to a turn that asked
            topical = wants.counts(sentence.text) or (borrowed[i] > 0 and bool(_NUMBER.search(sentence.text)))
        elif wants.options or wants.thing:
            topical = wants.names_the_thing(sentence.text)
        else:
            topical = not wants.price or (sentence.n, sentence.line) in on_topic or borrowed[i] > 0
        extracts.append(
            Extract(sentence.n, sentence.text, score, (sentence.line, sentence.index), topical, report=report)
        )
    return sorted(extracts, key=lambda e: e.score, reverse=True)


def _next_turns(after: Iterable[_Sentence], line: int, count: int) -> list[int]:
    """The next `count` turns (lines) of a passage after `line`, of its sentences `after`."""
    return sorted({s.line for s in after if s.line > line})[:count]


def _singular(term: str) -> str:
    return term[:-1] if len(term) > 3 and term.endswith("s") else term


def extractive_answer(
    question: str, passages: list[ContextPassage], *, max_sentences: int = MAX_SENTENCES
) -> str:
    chosen: list[Extract] = []
    seen: set[str] = set()
    wants = Asked.of(question)
    sentences = _sentences(passages)
    ranked = _rank(question, wants, sentences)
    for extract in ranked:
        key = _key(extract.sentence)
        if key in seen:
            continue
        seen.add(key)
        chosen.append(extract)
        if len(chosen) == max_sentences:
            break
    if not chosen:
        return ""
    best = chosen[0].score
    chosen = [e for e in chosen if e.score >= best * KEEP_SHARE]
    # The further sentences add to an answer; they neither make one nor change what else is quoted.
    chosen, further = chosen[:ANSWER_SENTENCES], chosen[ANSWER_SENTENCES:]
    if not chosen:
        return ""
    if wants.status:  # whether something was done: the ledger's line answers it, with what was said
        chosen += _after_the_evidence(chosen, sentences)
        chosen += _the_report(ranked, chosen, sentences, wants)  # and the person's own report
    else:
        chosen += _another_meeting(ranked, chosen, passages)
    if wants.total:
        chosen += _latest_total(question, ranked, chosen, sentences, passages)
    if not any(e.topical for e in chosen) or (
        wants.price
        and not any(
            wants.held_by(e.sentence) and e.topical and _said_of(wants.party, e, sentences) for e in chosen
        )
    ):
        # A price, a count, a person, a colour, a brand or one of the offered choices asked for and none given
        # (the answer's sentences are all off topic, Extract.topical): what was found is about the question's
        # words, not its answer ("¿Cuánto cuesta una sesión de punción seca?" -> "punción seca, treinta
        # minutos"; "¿Cuántos profesores…?" -> "las seis academias"; "¿Quién hace la traducción?" -> what
        # it costs). Quoting it would pass for an answer; saying nothing lets the pipeline say it does not
        # know. Dates are not checked: they are spoken as words ("el veintisiete") and "when" also joins
        # clauses.
        return ""
    said = {_key(e.sentence) for e in chosen}
    chosen += [e for e in further if _key(e.sentence) not in said]
    if not wants.status:
        chosen += _after_the_change(chosen, sentences, wants)
    order = {p.n: i for i, p in enumerate(passages)}
    chosen.sort(key=lambda e: (order[e.n], e.position))
    parts = []
    for extract in chosen:
        sentence = extract.sentence.rstrip()
        if sentence[-1:] not in ".!?…":
            sentence += "."
        parts.append(f"{sentence[:-1]} [{extract.n}]{sentence[-1]}")
    return " ".join(parts)


def _latest_total(
    question: str,
    ranked: list[Extract],
    chosen: list[Extract],
    sentences: list[_Sentence],
    passages: list[ContextPassage],
) -> list[Extract]:
    """For a budget as it stands: the best-ranked sentence of the latest meeting that sums one up
    (states_total) and its result, those of them not quoted yet. Said at the meeting that changed the
    budget, it shares few of the question's words, so any sentence of the passages may be it. It answers
    by itself only a question about what the passages' headings name (a meeting's or a document's title:
    "¿cuánto cuesta la web con todos los cambios?" in the web's project), not about a thing spoken of in
    passing whose price nobody gave ("¿cuánto cuesta la campaña…?": the web's sum is not its price)."""
    when = {p.n: p.when for p in passages}
    scored = {(e.n, e.position): e for e in ranked}
    totals = [
        scored.get((s.n, (s.line, s.index))) or Extract(s.n, s.text, 0.0, (s.line, s.index))
        for s in sentences
        if when[s.n] and states_total(s.text)
    ]
    if not totals:
        return []
    last = max(str(when[e.n]) for e in totals)
    best = max((e for e in totals if str(when[e.n]) == last), key=lambda e: e.score)
    subject = set(content_terms(_TOTAL_WORDS.sub(" ", question)))
    named = {term for s in sentences for term in s.section}
    found = [replace(best, topical=subject <= named)]
    # "Pues: doce mil ochocientos, más mil cuatrocientos cincuenta, menos setecientos. Trece mil quinientos
    # cincuenta.": the sum's result is its turn's next sentence, or the next turn that agrees to it, or the
    # figure of one of the next two turns ("doce mil cuatrocientos." - "Cuatrocientos cincuenta. Doce mil
    # cuatrocientos cincuenta.": a sum said wrong and put right by someone else).
    line = best.position[0]
    after = [s for s in sentences if s.n == best.n and (s.line, s.index) > best.position]
    result = next((s for s in after if s.line == line), None)
    if result is None or not _THOUSANDS.search(_spoken(result.text)):
        result = next((s for s in after if s.line > line), None)
        if result is not None and not _agrees_figure(result.text):
            next_turns = _next_turns(after, line, RESULT_TURNS)
            said_in = [s for s in after if s.line in next_turns]
            result = next((s for s in said_in if _THOUSANDS.search(_spoken(s.text))), None)
    if result is not None:
        found.append(Extract(result.n, result.text, 0.0, (result.line, result.index), found[0].topical))
    quoted = {_key(e.sentence) for e in chosen}
    return [e for e in found if _key(e.sentence) not in quoted]


# A later meeting's change of what an earlier one settled: "El espectáculo nuevo ya no se llama Vientos de
# papel.", "Nos vamos de Butaca Fácil.", "al veintidós de febrero no llego bien".
_CHANGES = re.compile(
    r"\b(ya no|nos vamos de|nos pasamos|dej\w* de|en vez de|en lugar de|cambi\w*|no lleg\w*|pasa de|"
    r"se mueve|retras\w*|instead|no longer|switch\w*)\b",
    re.IGNORECASE,
)
CHANGE_TURNS = 2
RESULT_TURNS = 2  # a sum's result is said within its turn or the next two


def _after_the_change(chosen: list[Extract], sentences: list[_Sentence], wants: Asked) -> list[Extract]:
    """What a quoted change at the latest meeting changed to: the first sentence after it, in its turn or
    the CHANGE_TURNS after, that gives what is asked ("Así que se llama Pájaros de papel.", "Nos pasamos a
    Taquilla Norte…", "Proponemos el lunes ocho de marzo."). The change says what no longer holds; what
    holds now is said next, often without the question's words."""
    said = {_key(e.sentence) for e in chosen}
    at = {(s.n, s.line, s.index): i for i, s in enumerate(sentences)}
    found: list[Extract] = []
    for extract in chosen:
        i = at.get((extract.n, *extract.position))
        if i is None or not sentences[i].latest or not _CHANGES.search(_SPEAKER.sub("", extract.sentence)):
            continue
        start = sentences[i]
        lines = _next_turns((s for s in sentences if s.n == start.n), start.line, CHANGE_TURNS)
        turns = {start.line, *lines}
        following = [s for s in sentences[i + 1 :] if s.n == start.n and s.line in turns]
        following = [s for s in following if not s.is_question]
        gives = next((s for s in following if _gives_what_changed(s.text, wants)), None)
        if gives is not None and _key(gives.text) not in said:
            said.add(_key(gives.text))
            found.append(Extract(gives.n, gives.text, 0.0, (gives.line, gives.index)))
    return found


def _gives_what_changed(sentence: str, wants: Asked) -> bool:
    """A date, an amount (a count is one) or a person for a question that asks one, else a name for
    "which"; nothing for other questions (what a change changed to is then no one sentence)."""
    return wants.held_by(sentence) if wants.kind else wants.gives(sentence)


def _another_meeting(
    ranked: list[Extract], chosen: list[Extract], passages: list[ContextPassage]
) -> list[Extract]:
    """The best sentence of a meeting none of the chosen ones comes from, when it scores at least
    ANOTHER_MEETING_SHARE of the best. Meetings move on: the budget agreed at the kick-off is raised at
    the review, the launch date moves, what was left out comes back; one meeting's sentence alone answers
    half of "how much did it go up and where does it stand" (issue 14's cross-meeting questions). Only for
    an answer that quotes a meeting: one quoted from documents stays with them."""
    meeting = {p.n: p.meeting for p in passages}
    quoted = {meeting[e.n] for e in chosen}
    if quoted == {None}:
        return []  # an answer from documents: what a meeting said is another matter
    said = {_key(e.sentence) for e in chosen}
    floor = chosen[0].score * ANOTHER_MEETING_SHARE
    for extract in ranked:
        if extract.score < floor:
            break
        where = meeting[extract.n]
        if where is not None and where not in quoted and _key(extract.sentence) not in said:
            return [extract]
    return []


def _after_the_evidence(chosen: list[Extract], sentences: list[_Sentence]) -> list[Extract]:
    """The rest of the turn in which a quoted ledger line's evidence was said. "¿Mandó Elena las fotos?":
    the ledger says "cumplido, «Las fotos ya están.»", and Elena went on: "Ya os mandé las fotos el martes
    pasado, por WeTransfer. Son ciento veinte, de las botellas y del viñedo." Up to EVIDENCE_SENTENCES."""
    quotes = [
        m.group(1) for e in chosen if _LEDGER_STATUS.search(e.sentence) for m in _QUOTE.finditer(e.sentence)
    ]
    if not quotes:
        return []
    said = {_key(e.sentence) for e in chosen}
    found: list[Extract] = []
    for quote in quotes:
        said_then = split_sentences(quote)
        last = _key(said_then[-1]) if said_then else ""
        if not last:
            continue  # "Sí.": no words to find it by
        at = next((i for i, s in enumerate(sentences) if _key(s.text) == last), None)
        if at is None:
            continue
        turn = [s for s in sentences[at + 1 :] if (s.n, s.line) == (sentences[at].n, sentences[at].line)]
        for s in turn[:EVIDENCE_SENTENCES]:
            if _key(s.text) not in said and not s.is_question:
                said.add(_key(s.text))
                found.append(Extract(s.n, s.text, 0.0, (s.line, s.index)))
    return found


def _the_report(
    ranked: list[Extract], chosen: list[Extract], sentences: list[_Sentence], wants: Asked
) -> list[Extract]:
    """The asked person's best-ranked report of what they did, the one of the asked action first ("¿Mandó
    Ainhoa la lista?" - "os la mandé el martes trece", not "las escrituras se las pasé a Iker"), and the
    next sentence of its turn, which says how it went ("Ciento cuarenta y tres clínicas…"). Nothing when
    a quoted sentence already reports the asked action."""
    stems = {fold(word)[:4] for word in wants.words if len(word) >= 4}

    def of_the_action(extract: Extract) -> bool:
        body = _SPEAKER.sub("", extract.sentence)
        return any(fold(m.group(0))[:4] in stems for m in _PAST_VERB.finditer(body))

    if any(e.report and of_the_action(e) for e in chosen):
        return []
    said = {_key(e.sentence) for e in chosen}
    reports = [e for e in ranked if e.report and _key(e.sentence) not in said]
    report = next((e for e in reports if of_the_action(e)), reports[0] if reports else None)
    if report is None or (any(e.report for e in chosen) and not of_the_action(report)):
        return []
    line, index = report.position
    after = [
        Extract(s.n, s.text, 0.0, (s.line, s.index))
        for s in sentences
        if (s.n, s.line, s.index) == (report.n, line, index + 1)
        and not s.is_question
        and _key(s.text) not in said
    ]
    return [report, *after]


def _key(sentence: str) -> str:
    """What a sentence says, for telling repeats apart (a summary quoting a turn, two speakers agreeing)."""
    return " ".join(content_terms(_SPEAKER.sub("", sentence)))


# "Ana García: " before a quoted transcript line: a name's words (capitalised, or a particle: "María de la
# Fuente: ", "SPEAKER_01: "), not a sentence's lead-in ("Y una cosa: para el desarrollo…", said by a
# speaker whose own line repeats it as "Laura: Y una cosa: …", which would otherwise not read as a repeat).
_SPEAKER = re.compile(
    r"^[A-ZÁÉÍÓÚÑ][\w.'’-]*(?:\s+(?:[A-ZÁÉÍÓÚÑ][\w.'’-]*|de|del|la|las|los|y|van|von|da|di)){0,4}:\s+"
)
# A reply that is a name and nothing else ("Nuria.", "Andrés y Nuria."): its capital is a name's.
_NAME_ONLY = re.compile(r"[A-ZÁÉÍÓÚÑ][a-záéíóúñ]+(?:(?:,\s*|\s+(?:y|e|and)\s+)[A-ZÁÉÍÓÚÑ][a-záéíóúñ]+)*[.!]?")


def _names_person(sentence: str) -> bool:
    body = _SPEAKER.sub("", sentence).strip()
    return bool(_NAME.search(body) or _NAME_ONLY.fullmatch(body))


class ExtractiveAnswerer:
    """The offline default. Not a language model: it quotes the best-matching retrieved sentences."""

    provider = "extractive"
    model = "extractive-v1"

    def __init__(self, *, delay: float = 0.0) -> None:
        self.delay = delay

    async def answer(self, generation: Generation, usage: Usage) -> AsyncIterator[str]:
        text = extractive_answer(generation.question, generation.passages)
        usage.prompt_tokens = sum(p.token_count for p in generation.passages)
        if not text:
            return
        pieces = re.findall(r"\S+\s*", text)
        usage.completion_tokens = len(pieces)
        for piece in pieces:
            if self.delay:
                await asyncio.sleep(self.delay)
            yield piece
