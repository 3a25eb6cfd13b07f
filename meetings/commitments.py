"""Commitments heard in a meeting: who will do what, by when, and which segments say so.

`CommitmentExtractor` is the task. `PatternCommitmentExtractor` is the offline implementation: Spanish and
English promises ("me encargo de…", "os lo paso el lunes", "yo preparo…", "Ana enviará…", "I'll send…"),
requests answered by the person asked ("Nuria, pásalo a administración" - "Sí, yo se lo paso"), the items
of a closing recap ("Resumo. Francina: las claves del TPV el viernes. Pep: …"), tasks without their dates and
fillers, due dates resolved against the meeting date (meetings/dates.py).
`LLMCommitmentExtractor` asks a chat model for the commitments as schema-constrained JSON, with the due
date as said, resolved here (when it fails, the summariser falls back to the patterns and says so).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Protocol

from pydantic import BaseModel, Field

from core.providers.llm import ChatModel, complete_structured
from core.text import content_terms
from meetings.dates import DATE_PHRASE, SAME_DAY, resolve_due
from meetings.schemas import CommitmentItem, MeetingTranscript, Segment, sentences_of
from meetings.verbs import (
    ARTICLES,
    FUTURE,
    IMPERATIVE,
    INFINITIVE,
    NEEDS_RESULT,
    PRESENT,
    PRETERITE,
    SUBJUNCTIVE,
    VERB_MARK,
    forms_of,
    lemma_of,
    lemma_terms,
    reading,
    with_pronoun,
)
from prompts.loader import Prompt

__all__ = [
    "CommitmentExtractor",
    "LLMCommitmentExtractor",
    "PatternCommitmentExtractor",
    "commitment_in",
    "resolve_due",
]


class CommitmentExtractor(Protocol):
    provider: str
    model: str

    async def extract(self, transcript: MeetingTranscript) -> list[CommitmentItem]: ...


# --- words -----------------------------------------------------------------------------------------

INDIRECT_CLITICS = {"me", "te", "le", "les", "os", "nos", "se"}
DIRECT_CLITICS = {"lo", "la", "los", "las"}
# A verb right after one of these is a noun or sits in another clause: "el envío", "lo que paso".
BLOCKERS = (ARTICLES - {"an"}) | {
    "próximo",
    "próxima",
    "siguiente",
    "en",
    "por",
    "para",
    "con",
    "sin",
    "sobre",
    "cada",
    "otro",
    "otra",
    "nuestro",
    "nuestra",
    "vuestro",
    "vuestra",
    "que",
    "cuando",
    "como",
    "si",
    "más",
    "muy",
    "tan",
    "menos",
    "todo",
    "toda",
    "último",
    "última",
    "primer",
    "primera",
    "segundo",
    "segunda",
    "nuevo",
    "nueva",
    "buen",
    "gran",
    "mismo",
    "misma",
    "algún",
    "ningún",
}
# Verbs of talk are promises only with what they deliver ("se lo digo", "lo hablo") or when ("hablo
# con Tom hoy"): "os comento", "te digo una cosa" are said there and then.
TALK = {"decir", "comentar", "preguntar", "contestar", "responder", "hablar"}
# A proposal is a promise only when it is addressed to someone: "os propongo fecha por email", not
# "propongo salir el doce".
PROPOSE = {"proponer"}
# What "dejar" must leave for a promise: "lo dejo listo el lunes", "voy a dejar montado...".
RESULTS = re.compile(
    r"^\s*(?:list|montad|preparad|hech|terminad|cerrad|subid|configurad|resuelt)[oa]s?\b", re.IGNORECASE
)
# Said before the verb, these make it no promise: a condition, a doubt, a wish, a habit.
HEDGE = re.compile(
    r"\b(?:si|if|quizás?|tal vez|a lo mejor|ojalá|maybe|perhaps|might|could|would|podría(?:mos)?|"
    r"deberíamos|habría que|me gustaría|nos gustaría|I'd|we'd|no sé si|normalmente|siempre|usually|"
    r"always|cada (?:día|semana|mes))\b",
    re.IGNORECASE,
)
# After the verb, a condition still makes it none: "os la pasamos cuando la tengamos".
CONDITION_AFTER = re.compile(
    r"\bcuando (?:\w+ )?(?:tengamos|tenga|tengan|esté|estén|sepamos|sepa|haya|hayan|llegue|lleguen|podamos|"
    r"pueda|puedan)\b|\b(?:if|unless)\b",
    re.IGNORECASE,
)
# A recap restates what was said ("Resumo: moodboard de Carmen el viernes…"); it promises nothing new.
RECAP = re.compile(
    r"^\W*(?:(?:resumo|resumen|resumiendo|recapitulando|en resumen|para resumir|"
    r"recap|to recap|to sum up|so,? to recap|summary|action items)\b|(?:repaso|tareas|deberes)\s*[:,])",
    re.IGNORECASE,
)
# Narrated past: "lo terminé el nueve, y lo revisamos con Elena" is no promise ("revisamos" is both).
PAST_MARKERS = re.compile(r"\b(?:ayer|pasad[oa]|anteayer|yesterday|last (?:week|month))\b", re.IGNORECASE)
NEGATED = re.compile(
    r"\b(?:no|nunca|tampoco|not|never)\s+(?:(?:me|te|se|le|les|os|nos|lo|la|los|las)\s+){0,2}$"
)
# "Os lo mando el lunes, ¿vale?" is a promise with a question tag, not a question.
TAG_QUESTION = re.compile(
    r",?\s*¿?\s*(?:vale|de acuerdo|ok|okay|te parece|os parece|sí|no|verdad|right|ok)\s*\?\s*$", re.IGNORECASE
)
FILLERS = re.compile(
    r"^(?:\W*\b(?:sí|si|vale|bueno|pues|ok|okay|claro|perfecto|genial|entonces|y|and|so|sure|yes|eh|"
    r"a ver|mira|oye|vale pues|de acuerdo|yo|nosotros|también|ahora|hoy mismo|ya)\b\W*)+",
    re.IGNORECASE,
)
DETERMINER = re.compile(
    r"^(?:el|la|los|las|lo de|lo del|eso de|esto de|tu|su|sus|tus|nuestro|nuestra|nuestros|nuestras|"
    r"este|esta|estos|estas|ese|esa|esos|esas|the|your|our)\b",
    re.IGNORECASE,
)
# Capitalised words that can stand where a name does ("Todo va a salir bien", "There will be a demo").
NOT_NAMES = {
    *[
        "Yo",
        "Eso",
        "Esto",
        "Ella",
        "Él",
        "Nadie",
        "Todo",
        "Todos",
        "Nada",
        "Alguien",
        "Algo",
        "Cada",
        "Mañana",
        "Hoy",
        "Luego",
        "Después",
        "Entonces",
    ],
    *[
        "Aquí",
        "Eso",
        "Esa",
        "Ese",
        "Esta",
        "Este",
        "Vale",
        "Bueno",
        "Pues",
        "Sí",
        "No",
        "Perfecto",
        "Genial",
        "Claro",
        "Apuntado",
        "Hecho",
        "Prometido",
    ],
    *[
        "We",
        "They",
        "It",
        "That",
        "This",
        "You",
        "He",
        "She",
        "There",
        "Everyone",
        "Everybody",
        "Someone",
        "Somebody",
        "Nobody",
        "What",
        "Who",
    ],
    *["Which", "Tomorrow", "Today", "Then", "Everything", "Nothing", "Okay", "Great", "Sure", "Yes", "Right"],
}
_TOKEN = re.compile(r"\w+")


# --- one sentence ----------------------------------------------------------------------------------


@dataclass
class Promise:
    """What one sentence promises, before its context fills it in."""

    lemma: str | None  # the verb's infinitive; None when `rest` is already the task ("me encargo de X")
    rest: str  # what follows the verb
    owner: str | None = None  # a named third person; None: the speaker
    pronoun: str | None = None  # a direct object pronoun standing for the task: "os lo paso"
    fronted: str = ""  # the object said before the verb: "las fotos os las mando mañana"
    bare: bool = False  # an acceptance that names no task: "yo me encargo", "I'm on it"

    @property
    def needs_context(self) -> bool:
        """Whether the sentence alone does not say what: "yo me encargo", "os lo paso", "les llamo"."""
        if self.bare or (self.pronoun is not None and not self.fronted):
            return True
        return self.lemma is not None and not self.fronted and not clean_task(self.rest)


TASK_FRAME = re.compile(
    r"\b(?:me encargo (?:yo )?de|me ocupo (?:yo )?de|me comprometo a|quedo en|quedo pendiente de|me toca|"
    r"me pongo con|"
    r"me pongo a|"
    r"I(?:'ll| will| am going to|'m going to| can take care of| shall)|let me)\s+(?P<task>.+)",
    re.IGNORECASE,
)
GOING_TO = re.compile(
    r"(?:(?P<indirect>\b(?:me|te|se|le|les|os|nos))\s+)?(?:\b(?P<pronoun>lo|la|los|las)\s+)?\bvoy a\s+"
    r"(?P<task>\w+(?:ar|er|ir)(?:se|me|te|le|les|lo|la|los|las|nos|os)*\b.*)",
    re.IGNORECASE,
)
WE_HANDOVER = re.compile(
    r"\bwe(?:'ll| will)\s+(?P<task>(?:send|get|share|give|email|forward|pass)\s+you\b.+)", re.IGNORECASE
)
BARE_ACCEPTANCE = re.compile(
    r"^(?:yo me (?:encargo|ocupo)(?: yo)?|me (?:encargo|ocupo) yo|(?:de )?eso me (?:encargo|ocupo)(?: yo)?|"
    r"yo me encargo de (?:eso|ello)|queda en mis manos|me lo apunto(?: yo)?|déjamelo a mí|dejádmelo a mí|"
    r"cuenta conmigo|contad conmigo|I'll take care of (?:it|that)|I'll handle (?:it|that)|I'm on it|"
    r"leave it (?:to|with) me|will do)$",
    re.IGNORECASE,
)
# "Lo tengo para el viernes 23", "las tengo el viernes": the speaker will have it done (said with a date).
HAVE_IT_BY = re.compile(r"\b(?P<pronoun>lo|la|los|las)\s+tengo\b(?P<rest>.*)", re.IGNORECASE)
# "Tengo que instalar el píxel", "lo tengo que consultar con los socios": a task the speaker owes.
HAVE_TO = re.compile(
    r"(?:\b(?P<pronoun>lo|la|los|las)\s+)?\btengo que\s+"
    r"(?P<task>\w+(?:ar|er|ir)(?:lo|la|los|las|le|les)?\b.*)",
    re.IGNORECASE,
)
# "…, que tengo que configurar el subdominio": the reason for a request, not a promise.
BECAUSE = re.compile(r"\b(?:que|porque|pues|ya que|because|since)\s*$", re.IGNORECASE)
# "Lo tenéis el jueves", "la tendrás mañana": the speaker delivers it (said with a date).
YOU_WILL_HAVE = re.compile(
    r"\b(?P<pronoun>lo|la|los|las)\s+(?:tienes|tenéis|tendrás|tendréis)\b(?P<rest>.*)", re.IGNORECASE
)
TENDRE = re.compile(
    r"\b(?P<pronoun>lo|la|los|las)\s+tendré\s+(?P<result>list[oa]s?|preparad[oa]s?|hech[oa]s?|terminad[oa]s?)"
    r"(?P<rest>.*)",
    re.IGNORECASE,
)
_NAME = r"(?P<owner>[A-ZÁÉÍÓÚÑ][a-záéíóúñ]+)"
NAMED_OWNER = re.compile(
    rf"\b{_NAME}\s+(?:se encarga de|se compromete a|se ocupa de|va a|will|is going to|'s going to)\s+"
    r"(?P<task>.+)"
)
NAMED_BARE = re.compile(rf"^{_NAME}\s+se (?:encarga|ocupa)(?: de (?:eso|ello))?$")
NAMED_FUTURE = re.compile(
    rf"\b{_NAME}\s+(?:(?:se\s+)?(?:lo|la|los|las|le|les)\s+)?(?P<verb>\w+)\b(?P<rest>.*)"
)
# Verbs that run the meeting itself in the present: "empiezo por lo pendiente", "traigo una alternativa",
# "repasamos lo de la semana". Said with a date they promise ("os lo traigo el lunes").
MEETING_FLOW = {"empezar", "comenzar", "repasar", "traer", "resumir", "seguir", "continuar", "arrancar"}
TODAY = re.compile(r"\bhoy\b(?!\s+mismo)", re.IGNORECASE)
# Irregular first-person futures of task verbs (the regular ones are infinitive + é: "enviaré").
IRREGULAR_FUTURES = {"haré": "hacer", "diré": "decir", "pondré": "poner", "propondré": "proponer"}
NOT_TASK_FUTURES = {"estaré", "seré", "iré", "podré", "habré", "sabré", "querré", "tendré"}
# A reschedule ("lo pasamos al jueves") is no new promise: the ledger reads it (meetings/mentions.py).
RESCHEDULE = re.compile(
    r"\b(?:pasamos|movemos|retrasamos|aplazamos|cambiamos)\b.*\b(?:al?|para el)\b|"
    r"\bse (?:retrasa|mueve|aplaza)",
    re.IGNORECASE,
)


def _words(text: str) -> list[re.Match[str]]:
    return list(_TOKEN.finditer(text))


def _clause_start(text: str, position: int) -> int:
    """Where the clause holding `position` starts (after the last , ; : before it)."""
    cut = max(text.rfind(mark, 0, position) for mark in ",;:")
    return cut + 1 if cut >= 0 else 0


def _first_person_verb(text: str, has_date: bool) -> Promise | None:
    """A task verb in the first person present ("os lo paso", "yo preparo…", "la pagamos esta semana") or
    future ("enviaré"), with the pronouns before it."""
    tokens = _words(text)
    for index, token in enumerate(tokens):
        word = token.group().lower()
        form = reading(word, PRESENT, ("1s", "1p")) or reading(word, FUTURE, ("1s", "1p"))
        lemma = form.lemma if form else _regular_future(word)
        if lemma is None:
            continue
        start = _clause_start(text, token.start())
        clitics: list[str] = []
        back = index - 1
        while (
            back >= 0
            and tokens[back].start() >= start
            and tokens[back].group().lower() in (INDIRECT_CLITICS | DIRECT_CLITICS)
        ):
            clitics.insert(0, tokens[back].group().lower())
            back -= 1
        if (
            back >= 0
            and tokens[back].start() >= start
            and tokens[back].group().lower() in BLOCKERS
            and not _adverb_of_time(tokens, back)
        ):
            continue
        before = text[: tokens[back + 1].start() if clitics else token.start()]
        if HEDGE.search(before) or NEGATED.search(before.lower()):
            return None
        plural = form is not None and form.person == "1p"
        indirect = any(c in INDIRECT_CLITICS - {"me", "nos"} for c in clitics)
        direct = next((c for c in clitics if c in DIRECT_CLITICS), None)
        rest = text[token.end() :]
        if not clitics and re.match(r"\s*[,.;:]|\s*$", rest):
            continue  # "en tres fases: diseño, desarrollo…": a noun in a list, not a verb
        lead = FILLERS.sub("", text[start : token.start()]).strip()
        if not clitics and DETERMINER.match(lead) and not re.search(r"\byo\b", lead, re.IGNORECASE):
            continue  # "el siguiente paso es…": the subject is a noun phrase, not "yo"
        if form is not None and form.tense == PRESENT and lemma in MEETING_FLOW and not has_date:
            continue  # "empiezo por lo pendiente", "traigo una alternativa": what the meeting does now
        if plural and not indirect and TODAY.search(text):
            continue  # "hoy repasamos lo pendiente y cerramos el mensaje": the meeting's own agenda
        if plural and (not (indirect or has_date) or _narrates_past(text)):
            continue
        if lemma in TALK and not (direct or has_date):
            continue
        if lemma in PROPOSE and not indirect:
            continue
        if CONDITION_AFTER.search(rest):
            return None
        if lemma in NEEDS_RESULT and not (RESULTS.search(rest) or has_date):
            continue
        fronted = ""
        if direct:
            lead = FILLERS.sub("", text[start : tokens[back + 1].start()]).strip(" .,;:¿?¡!")
            # "las fotos os las mando" fronts the object; "esta semana te los mando" only the date.
            fronted = lead[:1].lower() + lead[1:] if DETERMINER.match(lead) and clean_task(lead) else ""
        return Promise(lemma, rest, pronoun=direct, fronted=fronted)
    return None


def _adverb_of_time(tokens: list[re.Match[str]], index: int) -> bool:
    """ "hoy mismo", "ahora mismo": "mismo" after a time adverb is no determiner ("el mismo envío")."""
    return (
        tokens[index].group().lower() == "mismo"
        and index > 0
        and tokens[index - 1].group().lower() in {"hoy", "ahora", "ya", "mañana"}
    )


def _narrates_past(text: str) -> bool:
    return bool(PAST_MARKERS.search(text)) or any(
        reading(token.group().lower(), PRETERITE, ("1s", "3s")) for token in _TOKEN.finditer(text)
    )


def _regular_future(word: str) -> str | None:
    """The infinitive of a first-person future outside the lexicon: "maquetaré" -> "maquetar"."""
    if word in NOT_TASK_FUTURES:
        return None
    if word in IRREGULAR_FUTURES:
        return IRREGULAR_FUTURES[word]
    if len(word) > 5 and re.fullmatch(r"\w+(?:ar|er|ir)é", word):
        return word[:-1]
    return None


def _named_future(sentence: str) -> Promise | None:
    """ "Ana enviará el contrato": a named person's third-person future."""
    for match in NAMED_FUTURE.finditer(sentence):
        verb = match.group("verb").lower()
        if match.group("owner") in NOT_NAMES:
            continue
        form = reading(verb, FUTURE, "3s")
        lemma = form.lemma if form else None
        if lemma is None and len(verb) > 5 and re.fullmatch(r"\w+(?:ar|er|ir)á", verb):
            lemma = verb[:-1]
        if lemma and lemma not in {"estar", "ser", "poder", "haber", "ir", "tener"}:
            return Promise(lemma, match.group("rest"), owner=match.group("owner"))
    return None


def read_promise(sentence: str) -> Promise | None:
    """The promise one sentence makes, if it makes one: a question, a wish, a condition, a negation or a
    past action makes none."""
    text = TAG_QUESTION.sub("", sentence.strip()).strip()
    if not text or text.endswith("?") or RESCHEDULE.search(text) or RECAP.match(FILLERS.sub("", text)):
        return None
    core = FILLERS.sub("", text).strip(" .!¡")
    has_date = resolve_due(text, date(2000, 1, 3)) is not None
    if BARE_ACCEPTANCE.match(core):
        return Promise(None, "", bare=True)
    named = NAMED_BARE.match(core)
    if named and named.group("owner") not in NOT_NAMES:
        return Promise(None, "", owner=named.group("owner"), bare=True)
    named = NAMED_OWNER.search(text)
    if named and named.group("owner") not in NOT_NAMES:
        return Promise(None, named.group("task"), owner=named.group("owner"))
    promise = _named_future(text)
    if promise:
        return promise
    for pattern in (TASK_FRAME, WE_HANDOVER):
        match = pattern.search(text)
        if match and not HEDGE.search(text[: match.start()]) and not NEGATED.search(text[: match.start()]):
            task = match.group("task")
            if re.fullmatch(r"(?:eso|ello|esto|it|that)\W*", task.strip(), re.IGNORECASE):
                return Promise(None, "", bare=True)
            if not re.match(r"(?:be|think)\b", task, re.IGNORECASE):
                return Promise(None, task)
    match = YOU_WILL_HAVE.search(text)
    if match and has_date and not HEDGE.search(text[: match.start()]):
        return Promise("entregar", match.group("rest"), pronoun=match.group("pronoun"))
    match = HAVE_IT_BY.search(text)
    if match and has_date and not HEDGE.search(text[: match.start()]):
        # Says when, not what: the task is the speaker's promise just before, or what was asked of them.
        return Promise(None, "", pronoun=match.group("pronoun"))
    match = HAVE_TO.search(text)
    before = text[: match.start()] if match else ""
    if match and not (HEDGE.search(before) or NEGATED.search(before) or BECAUSE.search(before)):
        verb = match.group("task").split()[0].lower()
        if lemma_of(verb) not in TALK:
            return Promise(None, match.group("task"), pronoun=match.group("pronoun"))
    match = TENDRE.search(text)
    if match:
        return Promise(
            "tener", f"{match.group('result')}{match.group('rest')}", pronoun=match.group("pronoun")
        )
    match = GOING_TO.search(text)
    if match and not HEDGE.search(text[: match.start()]) and not NEGATED.search(text[: match.start()]):
        return Promise(None, match.group("task"), pronoun=match.group("pronoun"))
    return _first_person_verb(text, has_date=has_date)


# --- tasks as a ledger shows them --------------------------------------------------------------------

_SUBORDINATE = re.compile(
    r"(?:,\s*|\s+)(?:para que|so that)\b.*$|"
    r",?\s*\b(?:cuando|en cuanto) (?:puedas|podáis|pueda|puedan|you can)\b.*$|"
    r"[,:;]\s*(?:que|porque|pero|aunque|así que|eso es|es un|es una|y si no|si no|como dijimos|como dije|"
    r"because|but|which|so|that's|it's|por favor)\b.*$",
    re.IGNORECASE,
)
SAME_DAY_PHRASE = re.compile(rf"(?:\b(?:para|by|on|for)\s+)?(?:{SAME_DAY.pattern})", re.IGNORECASE)
_SUBJECTS = re.compile(r"\b(?:yo|tú|nosotros|nosotras|vosotros|myself)\b|\bpor favor\b", re.IGNORECASE)
_CLITIC_VERB = re.compile(
    r"\b(?:(?:me|te|se|le|les|os|nos)\s+)?(?:(?P<pronoun>lo|la|los|las)\s+)?(?P<verb>\w+)\b", re.IGNORECASE
)


def _infinitives(text: str) -> str:
    """Later verbs of a promise as infinitives: "y te los paso" -> "y pasarlos"."""

    def replace(match: re.Match[str]) -> str:
        verb = match.group("verb")
        form = reading(verb.lower(), PRESENT, ("1s", "1p")) or reading(verb.lower(), FUTURE, ("1s", "1p"))
        if form is None or match.group(0) == verb:
            return match.group(0)
        return with_pronoun(form.lemma, match.group("pronoun"))

    return _CLITIC_VERB.sub(replace, text)


def clean_task(text: str) -> str:
    """A task without its date, its subordinate clauses and the speaker's fillers, up to the end of its item
    in a list said in one breath ("yo llamo a Quique el miércoles; Olga, las hojas escaneadas…")."""
    text = _SUBORDINATE.sub("", text.strip().split(";")[0])
    text = SAME_DAY_PHRASE.sub(" ", DATE_PHRASE.sub(" ", text))
    text = _SUBJECTS.sub(" ", _infinitives(text))
    text = re.sub(r"\s+([,.;:])", r"\1", re.sub(r"\s+", " ", text))
    text = re.sub(r"(?:\s+(?:y|and|con|with|también|too|a|al|para|the))+\s*$", "", text.strip(" ,.;:!¡?¿"))
    return text.strip(" ,.;:!¡?¿")


def compose_task(promise: Promise, *, lemma: str | None = None, antecedent: str = "") -> str:
    """The task in the infinitive: the verb (with its pronoun when nothing says what it stands for), what
    was said before it ("las fotos os las mando") or the request it answers, and what follows it."""
    verb = promise.lemma or lemma
    rest = clean_task(promise.rest)
    obj = promise.fronted or antecedent
    if verb is None:
        return " ".join(part for part in (rest, obj) if part)
    head = with_pronoun(verb, None if obj else promise.pronoun)
    if promise.fronted:
        return " ".join(part for part in (head, obj, rest) if part)
    return " ".join(part for part in (head, rest, obj) if part)


def commitment_in(
    segment_id: int, speaker: str | None, sentence: str, reference: date
) -> CommitmentItem | None:
    """The commitment one sentence states on its own, if any: "me encargo de…" (the speaker), "Ana
    enviará…", "os paso el Excel el viernes". A promise that needs its context ("os lo paso") is none."""
    promise = read_promise(sentence)
    if promise is None or promise.needs_context:
        return None
    task = compose_task(promise)
    if len(task.split()) < 2:
        return None
    return CommitmentItem(
        owner=promise.owner or speaker, task=task, due=said_due(sentence, reference), segment_ids=[segment_id]
    )


def said_due(sentence: str, reference: date) -> date | None:
    """The due date of a promise: said in its main clause ("el viernes, que hoy no llego": Friday)."""
    return resolve_due(_SUBORDINATE.sub("", sentence), reference) or resolve_due(sentence, reference)


# --- requests a promise answers ----------------------------------------------------------------------

REQUEST_FRAME = re.compile(
    r"^(?:lo que )?(?:necesito|necesitamos|necesitaríamos|necesitaría|hace falta|haría falta|nos haría falta|"
    r"me haría falta|queremos|quería|querríamos)\b"
    r"(?:\s+es)?(?:\s+que)?\s*(?P<what>.+)$",
    re.IGNORECASE,
)
CAN_YOU = re.compile(
    r"^(?:(?:me|te|nos|le|les|se)\s+)?(?:(?:lo|la|los|las)\s+)?(?:puedes|podrías|podéis|podríais)\s+(?P<what>.+)$",
    re.IGNORECASE,
)
ENGLISH_REQUEST = re.compile(
    r"^(?:can you|could you|would you|will you|can I ask you to|please)\s+(?P<verb>\w+)\s*(?P<what>.*)$",
    re.IGNORECASE,
)
_PRONOUN = re.compile(r"\b(?:lo|la|los|las)\b", re.IGNORECASE)
INFINITIVE_FORM = re.compile(r"\w{2,}(?:ar|er|ir)", re.IGNORECASE)
TAKE_ON = re.compile(
    r"^(?:te encargas|te ocupas|os encargáis|os ocupáis)(?:\s+tú)?\s+de\s+(?P<what>.+)$", re.I
)


@dataclass
class Request:
    lemma: str | None = None
    what: str = ""


def _vocative(text: str, names: set[str]) -> tuple[str, str] | None:
    """(name, what follows) when the sentence addresses one of `names`: "Nuria, pásalo…", "Y el pilates,
    Javier, ¿cómo va?"."""
    for name in names:
        match = re.search(rf"(?:^|,\s*)(?:y\s+)?{re.escape(name)}\s*,\s*(?P<what>.*)$", text, re.IGNORECASE)
        if match:
            return name, match.group("what")
    return None


def read_request(text: str, *, addressed: bool = True) -> Request:
    """What a request asks for: its verb ("pásalo a administración", "¿le pides tú que…?", "necesito que
    pidáis…") and/or its object ("el banner del Black Friday...", "necesitaríamos el listado…"). A bare
    object is a request only when said to someone by name (`addressed`) or after "necesito…"."""
    text = FILLERS.sub("", text.strip()).strip(" .…¿?¡!")
    text = re.sub(r",?\s*por favor$", "", text, flags=re.IGNORECASE)
    english = ENGLISH_REQUEST.match(text)
    if english and english.group("verb").lower() not in {"be", "tell", "think", "see"}:
        return Request(english.group("verb").lower(), clean_task(english.group("what")))
    framed = False
    for pattern in (TAKE_ON, REQUEST_FRAME, CAN_YOU):
        match = pattern.match(text)
        if match:
            text, framed = match.group("what").strip(" .…¿?¡!"), True
            break
    words = _words(text)
    skip = 0
    while skip < len(words) and words[skip].group().lower() in INDIRECT_CLITICS | DIRECT_CLITICS:
        skip += 1
    if skip < len(words):
        head = words[skip]
        for form in forms_of(head.group()):
            if form.tense in (IMPERATIVE, INFINITIVE, SUBJUNCTIVE) or (
                form.tense == PRESENT and form.person in ("2s", "2p")
            ):
                what = _SUBJECTS.sub(" ", text[head.end() :])
                return Request(form.lemma, clean_task(re.sub(r"^\s*tú\b", "", what)))
        if framed and INFINITIVE_FORM.fullmatch(head.group()):
            # "¿Podrías exportar de Qvet un listado…?": after "podrías", an infinitive is the task, in the
            # lexicon or not.
            return Request(head.group().lower(), clean_task(text[head.end() :]))
    if DETERMINER.match(text) and (addressed or framed):
        return Request(None, clean_task(text))
    return Request()


# --- the extractor ---------------------------------------------------------------------------------


@dataclass
class _Found:
    item: CommitmentItem
    owner: str | None
    lemma: str | None
    sentence: int  # index of the sentence that made it
    terms: set[str] = field(default_factory=set)


def _first_name(speaker: str | None) -> str | None:
    return speaker.split()[0] if speaker and speaker.split() else None


ACCEPTANCE = re.compile(
    r"^(?:sí|si|vale|claro|de acuerdo|perfecto|hecho|ok|okay|yes|sure|of course|will do|no problem|"
    r"sin problema)(?:[,.!]?\s*(?:sí|claro|vale|sure|yes|of course))?[.!]?$",
    re.IGNORECASE,
)


class PatternCommitmentExtractor:
    """Offline: the promises the patterns read, each filled in from its context: a pronoun ("os lo paso")
    refers to the speaker's own promise just before, or to what was asked of them; "yo me encargo" and a
    plain "sí" take on the request they answer."""

    provider = "extractive"
    model = "patterns-v2"
    lookback = 3  # segments back where the request a promise answers may be

    async def extract(self, transcript: MeetingTranscript) -> list[CommitmentItem]:
        return extract_commitments(transcript.segments, transcript.date, lookback=self.lookback)


def extract_commitments(
    segments: list[Segment], reference: date, *, lookback: int = 3
) -> list[CommitmentItem]:
    sentences = sentences_of(segments)
    names = {name for _, speaker, _ in sentences if (name := _first_name(speaker))}
    found: list[_Found] = []
    for index, (segment_id, speaker, sentence) in enumerate(sentences):
        due = _due(sentences, index, reference)
        promise = read_promise(sentence)
        if promise is None:
            request = _accepted_request(segments, sentences, index, names)
            if request is None:
                continue
            promise, antecedent, lemma = Promise(request.lemma, ""), request.what, None
        else:
            antecedent, lemma = "", None
        owner = promise.owner or speaker
        if promise.needs_context:
            earlier = _recent_promise(found, segments, segment_id, owner)
            if earlier is not None:
                _merge(earlier, segment_id, due, promise)
                continue
            request = _request_to(segments, sentences, index, names, lookback)
            if request.lemma is None and not request.what and promise.bare:
                continue
            lemma, antecedent = request.lemma, request.what
            if not antecedent and promise.pronoun:
                antecedent = _own_sentence_before(sentences, index)
        task = compose_task(promise, lemma=lemma, antecedent=antecedent)
        # "revisarlos", with nothing to say what and no date, is no row anyone can act on.
        if not task or (len(task.split()) < 2 and not (promise.pronoun and due)):
            continue
        if due is None:
            due = _due_said_after(sentences, index, reference)
        item = CommitmentItem(owner=owner, task=task, due=due, segment_ids=[segment_id])
        found.append(_Found(item, owner, promise.lemma or lemma, index, lemma_terms(task)))
    kept = _deduplicated(found)
    for entry in recap_commitments(segments, reference):
        _merge_recap(kept, entry, segments)
    return [entry.item for entry in kept]


# --- recaps ----------------------------------------------------------------------------------------

# Who does what, as a meeting's closing recap lists it: "Resumo. Francina: las claves del TPV para la semana
# que viene y las fotos a final de mes. Pep: la lista de cursos el viernes.", "Repaso: Sabela, la lista de
# piezas el viernes; Xoán, reservar a Lois mañana…", "Pues resumo: Tomás pide la API esta semana; Hugo
# prepara la comparativa…; yo, el anexo mañana." Each item opens with its owner: one of the meeting's
# speakers by full or first name ("Damián y Ramón, …": both), or "yo" (the one recapping). An item often is
# the only place a commitment is said whole; the turn that promised it said "El viernes la tienes."
_RECAP_OPENING = re.compile(
    r"^(?:[^.:;!?]{0,24}[.,!]\s*)?(?:(?:pues|entonces|bueno|vale|y)[,]?\s+)*"
    r"(?:resumo|repaso|resumiendo|recapitulando|en resumen|tareas|to recap|action items)\b"
    r"(?P<what>[^.:;]{0,24})[.:;,]",
    re.IGNORECASE,
)
# "Repaso lo pendiente de la última vez": the opening review of what was promised before, not new work.
_REVIEW = re.compile(r"\b(pendientes?|[úu]ltima vez|otra vez|anterior|last time)\b", re.IGNORECASE)
# A recap closes a meeting: in its last half.
RECAP_FROM = 0.5
_ITEM_BREAK = re.compile(
    r",\s*y\s+|;\s*|,\s+(?=(?:el|la|los|las|lo|un|una|unos|unas)\b)|\s+y\s+(?=(?:el|la|los|las|lo)\b)"
)


def recap_commitments(segments: list[Segment], reference: date) -> list[_Found]:
    """The commitments a closing recap lists, each owned by the speaker it names, cited to the recap."""
    speakers: dict[str, str] = {}
    for segment in segments:
        speaker = segment.get("speaker")
        if speaker and (name := _first_name(speaker)):
            # "Mari Carmen: el lunes llamas…" names her whole; "Ana, …" her first name.
            speakers.setdefault(speaker.lower(), speaker)
            speakers.setdefault(name.lower(), speaker)
    if not speakers:
        return []
    names = sorted([*speakers, "yo"], key=len, reverse=True)
    owner_at = re.compile(
        r"(?:^|(?<=[.;:,])\s*|(?<=\s)(?:y|e)\s+)(?P<owner>"
        + "|".join(map(re.escape, names))
        + r")\b\s*[:,]?",
        re.IGNORECASE,
    )
    found: list[_Found] = []
    for position, segment in enumerate(segments):
        if position < len(segments) * RECAP_FROM:
            continue
        text = str(segment.get("text", ""))
        opening = _RECAP_OPENING.match(text)
        if opening is None or _REVIEW.search(opening.group("what")):
            continue
        body = text[opening.end() :].strip()
        marks = list(owner_at.finditer(body))
        owners: list[str | None] = []  # "Damián y Ramón, la mesa Avia": both own what follows
        for mark, after in zip(marks, [*marks[1:], None], strict=False):
            said = mark.group("owner").lower()
            owners.append(segment.get("speaker") if said == "yo" else speakers[said])
            item = body[mark.end() : after.start() if after else len(body)]
            if not item.strip(" ,.;:"):
                continue
            for owner in owners:
                found += _recap_items(item, owner, position, reference)
            owners = []
    return found


def _tasks_joined(part: str) -> list[str]:
    """A part split where "y" joins a second task with its own verb: "pide la API de Gestacad esta semana y
    da de alta a Hugo", "la lista de piezas y llamar al pazo" (not "la lista de cursos y barcos")."""
    pieces = _AND.split(part)
    tasks = [pieces[0]]
    for piece in pieces[1:]:
        first = piece.split()[0].lower() if piece.split() else ""
        if first not in ARTICLES and (reading(first, PRESENT, ("2s", "3s")) or lemma_of(first) == first):
            tasks.append(piece)
        else:
            tasks[-1] += f" y {piece}"
    return tasks


_AND = re.compile(r"\s+(?:y|e)\s+")


def _recap_items(text: str, owner: str | None, segment_id: int, reference: date) -> list[_Found]:
    """One owner's part of a recap, split into its tasks ("las claves del TPV para la semana que viene y las
    fotos a final de mes"), each with its date or, said once at the end, the next one's."""
    parts = [
        piece.strip(" .;,")
        for part in _ITEM_BREAK.split(text)
        for piece in _tasks_joined(part)
        if piece.strip(" .;,")
    ]
    dues = [said_due(part, reference) for part in parts]
    found: list[_Found] = []
    for i, part in enumerate(parts):
        due = next((d for d in dues[i:] if d is not None), None)
        task = _as_infinitive(clean_task(part))
        if not content_terms(task):
            continue
        item = CommitmentItem(owner=owner, task=task, due=due, segment_ids=[segment_id])
        found.append(_Found(item, owner, None, -1, lemma_terms(task)))
    return found


def _as_infinitive(task: str) -> str:
    """A recap item's verb as a task's: "pide la API" -> "pedir la API", "le pasas a Carmela tres
    liquidaciones" -> "pasarle a Carmela tres liquidaciones"."""
    words = task.split()
    pronoun = (
        words[0]
        if len(words) > 1 and words[0].lower() in INDIRECT_CLITICS | {"lo", "la", "los", "las"}
        else None
    )
    at = 1 if pronoun else 0
    verb = reading(words[at].lower(), PRESENT, ("1s", "2s", "3s")) if len(words) > at else None
    if verb is None:
        return task
    return " ".join([with_pronoun(verb.lemma, pronoun and pronoun.lower()), *words[at + 1 :]])


def _said_by_owner(recap: _Found, segments: list[Segment]) -> tuple[int, str] | None:
    """The owner's own latest turn before the recap that speaks of the item's topic and has a task verb:
    where the commitment was made, and its verb (the recap often names only the thing)."""
    topic = {term for term in recap.terms if not term.startswith(VERB_MARK)}
    for index in range(recap.item.segment_ids[0] - 1, -1, -1):
        segment = segments[index]
        if segment.get("speaker") != recap.owner:
            continue
        terms, verb = _turn_reading(str(segment.get("text", "")))
        if topic & terms and verb is not None:
            return index, verb
    return None


@lru_cache(maxsize=4096)
def _turn_reading(text: str) -> tuple[frozenset[str], str | None]:
    """A turn's terms and its first task verb, read once: every item of a recap looks back over the same
    turns."""
    verb = next((lemma for word in _words(text) if (lemma := lemma_of(word.group().lower()))), None)
    return frozenset(lemma_terms(text)), verb


def _merge_recap(kept: list[_Found], recap: _Found, segments: list[Segment]) -> None:
    """A recap item joins the commitment it restates (its owner's, on the same topic, or made in the
    owner's turn that the item's words point back to), giving it a date it lacked; else it is a commitment
    of its own, cited to the recap.
    An item that names only the thing ("Sonia, los testimonios el viernes") takes the verb of that turn
    ("Los testimonios os los mando…" -> "mandar los testimonios")."""
    said = _said_by_owner(recap, segments)
    if said is not None and lemma_of(recap.item.task.split()[0].lower()) is None:
        recap.item.task = f"{said[1]} {recap.item.task}"
        recap.terms = lemma_terms(recap.item.task)
    twin = next((k for k in kept if _restates(k, recap)), None)
    if twin is None and said is not None:
        # The turn's row missed the thing ("pasar (tengo cientos en el móvil)"): the recap says it.
        twin = next((k for k in kept if k.owner == recap.owner and said[0] in k.item.segment_ids), None)
        if twin is not None:
            twin.item.task, twin.terms = recap.item.task, recap.terms
    if twin is None:
        kept.append(recap)
        return
    # Cited where it was promised: the recap repeats it among others (a citation to it supports less).
    twin.item.due = twin.item.due or recap.item.due


def _restates(kept: _Found, recap: _Found) -> bool:
    """A recap item restates a commitment of its owner's already heard: a topic word in common."""
    shared = {term for term in kept.terms & recap.terms if not term.startswith(VERB_MARK)}
    return kept.owner == recap.owner and bool(shared)


def _due(sentences: list[tuple[int, str | None, str]], index: int, reference: date) -> date | None:
    sentence = sentences[index][2]
    if SAME_DAY.search(sentence):
        for _, _, before in reversed(sentences[max(0, index - 3) : index]):
            if (said := resolve_due(before, reference)) is not None:
                return said
    return said_due(sentence, reference)


# "El 20 de noviembre, apuntado.", "Vale, el viernes 13.": the next speaker repeats the date back.
DATE_REPEATED = re.compile(r"^(?:el|para el|antes del?|on|by)\b", re.IGNORECASE)


def _due_said_after(sentences: list[tuple[int, str | None, str]], index: int, reference: date) -> date | None:
    """A promise's date said just after it: in the speaker's next sentence ("Yo os preparo las preguntas.
    Antes del puente de diciembre, el viernes 4."), or by the next speaker repeating it back ("Tendría la
    integración montada para el día veinte." - "El 20 de noviembre, apuntado.")."""
    if index + 1 >= len(sentences):
        return None
    segment_id, speaker, _ = sentences[index]
    next_segment, next_speaker, text = sentences[index + 1]
    if next_segment == segment_id:
        return said_due(text, reference) if not read_promise(text) else None
    if (
        next_segment == segment_id + 1
        and next_speaker != speaker
        and DATE_REPEATED.match(FILLERS.sub("", text))
    ):
        return said_due(text, reference)
    return None


def _recent_promise(
    found: list[_Found], segments: list[Segment], segment_id: int, owner: str | None
) -> _Found | None:
    """The owner's promise this one continues: in the same segment, or in their turn just before."""
    if not found or found[-1].owner != owner:
        return None
    last = found[-1].item.segment_ids[-1]
    if last == segment_id:
        return found[-1]
    if last == segment_id - 1 and segments[last].get("speaker") == segments[segment_id].get("speaker"):
        return found[-1]
    return None


def _merge(earlier: _Found, segment_id: int, due: date | None, promise: Promise) -> None:
    """ "Yo preparo el plan. Os lo paso el lunes": one commitment, due when the last part is."""
    item = earlier.item
    if segment_id not in item.segment_ids:
        item.segment_ids.append(segment_id)
    if due is not None and (item.due is None or due > item.due):
        item.due = due
    if promise.lemma and promise.lemma != earlier.lemma and promise.lemma not in TALK:
        item.task = f"{item.task} y {with_pronoun(promise.lemma, promise.pronoun)}"


def _request_to(
    segments: list[Segment],
    sentences: list[tuple[int, str | None, str]],
    index: int,
    names: set[str],
    lookback: int,
) -> Request:
    """What was asked of the speaker of sentence `index`: in a recent turn that addresses them by name,
    or else in the turn just before theirs."""
    segment_id, speaker, _ = sentences[index]
    me = _first_name(speaker)
    earlier = [s for s in sentences[:index] if s[0] >= segment_id - lookback and s[1] != speaker]
    by_segment: dict[int, list[str]] = {}
    for sid, _, text in earlier:
        by_segment.setdefault(sid, []).append(text)
    for sid in sorted(by_segment, reverse=True):
        texts = by_segment[sid]
        addressed = me is not None and any(_vocative(text, {me}) for text in texts)
        if not addressed and sid != segment_id - 1:
            continue
        request = Request()
        for position, text in enumerate(texts):
            vocative = _vocative(text, {me}) if me else None
            asked = read_request(vocative[1] if vocative else text, addressed=addressed)
            pronoun_only = asked.lemma and not asked.what and _PRONOUN.search(text)
            if pronoun_only and not request.lemma and position > 0:
                # "Para eso necesito los logos ya. Covadonga, ¿me los mandas?": what "los" stands for is in
                # the sentence before the request, in brackets as _own_sentence_before gives it.
                asked.what = _in_brackets(texts[position - 1])
            request.lemma = request.lemma or asked.lemma
            request.what = request.what or asked.what
        if request.lemma or request.what:
            return request
    return Request()


def _accepted_request(
    segments: list[Segment], sentences: list[tuple[int, str | None, str]], index: int, names: set[str]
) -> Request | None:
    """A plain "sí" to a request addressed to the speaker in the turn before: they take it on."""
    segment_id, speaker, sentence = sentences[index]
    first_of_turn = index == 0 or sentences[index - 1][0] != segment_id
    if not first_of_turn or not ACCEPTANCE.match(sentence.strip()) or segment_id == 0:
        return None
    me = _first_name(speaker)
    if me is None or segments[segment_id - 1].get("speaker") == speaker:
        return None
    for _, _, text in (s for s in sentences[:index] if s[0] == segment_id - 1):
        vocative = _vocative(text, {me})
        if vocative:
            request = read_request(vocative[1])
            if request.lemma:
                return request
    return None


def _own_sentence_before(sentences: list[tuple[int, str | None, str]], index: int) -> str:
    """What a pronoun with no request behind it may stand for: the speaker's sentence before it, in
    brackets ("cambiarlo (eso cambia lo que teníamos de doce horas)")."""
    if index == 0 or sentences[index - 1][0] != sentences[index][0]:
        return ""
    return _in_brackets(sentences[index - 1][2])


def _in_brackets(sentence: str) -> str:
    """A sentence a pronoun may stand for, as the task's object: "(eso cambia lo que teníamos)"."""
    before = FILLERS.sub("", sentence).strip(" .")
    return f"({before[:1].lower()}{before[1:]})" if content_terms(before) else ""


def _same_commitment(a: _Found, b: _Found) -> bool:
    """The same owner saying the same thing again in the same exchange (two topic words in common)."""
    if a.owner != b.owner or abs(a.item.segment_ids[0] - b.item.segment_ids[0]) > REPEAT_WITHIN:
        return False
    shared = a.terms & b.terms
    topical = [term for term in shared if not term.startswith(VERB_MARK)]
    return len(topical) >= 2 and 2 * len(shared) / (len(a.terms) + len(b.terms)) >= 0.5


REPEAT_WITHIN = 5  # segments


def _deduplicated(found: list[_Found]) -> list[_Found]:
    """One commitment said twice ("necesitaríamos el listado…" - "sí, os lo mando el viernes") is one."""
    kept: list[_Found] = []
    for entry in found:
        twin = next((k for k in kept if _same_commitment(k, entry)), None)
        if twin is None:
            kept.append(entry)
            continue
        twin.item.segment_ids = sorted({*twin.item.segment_ids, *entry.item.segment_ids})
        twin.item.due = entry.item.due or twin.item.due
    return kept


# --- the model -------------------------------------------------------------------------------------


class SaidCommitment(BaseModel):
    """A commitment as the model reports it: the due date as said ("el viernes", "antes de fin de mes";
    an ISO date is accepted too), resolved against the meeting date in code."""

    # Where it is said first: the speaker of those segments is who promises (the owner that follows).
    # Required: with the schema as a grammar, a 1.5B model otherwise writes [] (and a null owner) every time.
    segment_ids: list[int] = Field(min_length=1)
    owner: str | None = None
    task: str = Field(min_length=1)
    due: str | None = None


class SaidCommitments(BaseModel):
    commitments: list[SaidCommitment] = Field(default_factory=list)


class LLMCommitmentExtractor:
    """A chat model asked for the commitments alone (`extract_commitments` prompt), as JSON constrained to
    `SaidCommitments`, due dates resolved against the meeting date here. Raises StructuredOutputFailed
    when the model gives no valid answer (the summariser then falls back to the patterns)."""

    def __init__(self, model: ChatModel, prompt: Prompt) -> None:
        self.chat = model
        self.prompt = prompt
        self.provider = model.provider
        self.model = model.model

    async def extract(self, transcript: MeetingTranscript) -> list[CommitmentItem]:
        result = await complete_structured(
            self.chat,
            self.prompt.render(**transcript.prompt_values()),
            SaidCommitments,
            question=transcript.title,
            max_tokens=1200,
        )
        items = [resolved(said, transcript.date) for said in result.commitments]
        transcript.keep_known_segments(items)
        for item in items:
            if item.owner is None and item.segment_ids:
                # No owner given: whoever says it first (the prompt's rule for a promise in first person).
                item.owner = transcript.segments[item.segment_ids[0]].get("speaker") or None
        return items


def resolved(said: SaidCommitment, reference: date) -> CommitmentItem:
    """A model's commitment with its due date resolved; a date left in the task ("enviar el acta el
    viernes") is read from there and cut out."""
    due = resolve_due(said.due, reference) if said.due else None
    if due is None:
        due = resolve_due(said.task, reference)
    task = clean_task(said.task) or said.task.strip()
    return CommitmentItem(
        owner=(said.owner or "").strip() or None, task=task, due=due, segment_ids=said.segment_ids
    )
