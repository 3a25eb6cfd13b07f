"""The Spanish verbs of meeting tasks, conjugated: which word is which verb, in which tense and person.

The commitment patterns need to tell "os lo paso el lunes" (a promise: first person, present) from "lo pasé
el lunes" (done: first person, preterite) and "¿nos lo pasas?" (a request: second person), and to turn any
of them into the task's infinitive ("pasar"). Regular verbs are conjugated by rule; the irregular forms of
the few common irregular verbs are listed. Only verbs of things people take on after a meeting are here:
opinion and talk verbs ("creo", "resumo", "sigo") must not look like promises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from core.text import content_terms

# Tenses and persons the patterns ask about.
PRESENT = "present"
PRETERITE = "preterite"
FUTURE = "future"
SUBJUNCTIVE = "subjunctive"
IMPERATIVE = "imperative"
PARTICIPLE = "participle"
INFINITIVE = "infinitive"


@dataclass(frozen=True)
class VerbForm:
    lemma: str  # the infinitive
    tense: str
    person: str  # "1s", "2s", "3s", "1p", "2p", "3p"; "" for participles and infinitives


# Regular verbs whose first-person present is a task said as a promise ("lo reviso", "os lo mando").
REGULAR = [
    "actualizar",
    "agendar",
    "avisar",
    "añadir",
    "arreglar",
    "buscar",
    "cambiar",
    "cancelar",
    "cargar",
    "comentar",
    "compartir",
    "comprar",
    "confirmar",
    "configurar",
    "consultar",
    "contactar",
    "contestar",
    "convocar",
    "coordinar",
    "crear",
    "descargar",
    "diseñar",
    "documentar",
    "enseñar",
    "entregar",
    "exportar",
    "enviar",
    "firmar",
    "gestionar",
    "grabar",
    "hablar",
    "imprimir",
    "instalar",
    "integrar",
    "intentar",
    "investigar",
    "limpiar",
    "llamar",
    "mandar",
    "maquetar",
    "migrar",
    "mirar",
    "montar",
    "organizar",
    "pagar",
    "pasar",
    "planificar",
    "preguntar",
    "preparar",
    "presentar",
    "programar",
    "publicar",
    "quitar",
    "redactar",
    "reenviar",
    "reservar",
    "responder",
    "revisar",
    "sacar",
    "solicitar",
    "subir",
    "terminar",
    "validar",
]
# Irregular and stem-changing verbs: the forms that differ from the regular ones.
IRREGULAR: dict[str, dict[tuple[str, str], str]] = {
    "hacer": {
        (PRESENT, "1s"): "hago",
        (PRETERITE, "1s"): "hice",
        (PRETERITE, "3s"): "hizo",
        (PRETERITE, "2s"): "hiciste",
        (PRETERITE, "1p"): "hicimos",
        (PRETERITE, "2p"): "hicisteis",
        (FUTURE, "1s"): "haré",
        (FUTURE, "3s"): "hará",
        (FUTURE, "1p"): "haremos",
        (SUBJUNCTIVE, "2s"): "hagas",
        (SUBJUNCTIVE, "2p"): "hagáis",
        (SUBJUNCTIVE, "3s"): "haga",
        (IMPERATIVE, "2s"): "haz",
        (PARTICIPLE, ""): "hecho",
    },
    "poner": {
        (PRESENT, "1s"): "pongo",
        (PRETERITE, "1s"): "puse",
        (PRETERITE, "3s"): "puso",
        (PRETERITE, "2s"): "pusiste",
        (PRETERITE, "1p"): "pusimos",
        (PRETERITE, "2p"): "pusisteis",
        (FUTURE, "1s"): "pondré",
        (FUTURE, "3s"): "pondrá",
        (FUTURE, "1p"): "pondremos",
        (SUBJUNCTIVE, "2s"): "pongas",
        (SUBJUNCTIVE, "2p"): "pongáis",
        (SUBJUNCTIVE, "3s"): "ponga",
        (IMPERATIVE, "2s"): "pon",
        (PARTICIPLE, ""): "puesto",
    },
    "proponer": {
        (PRESENT, "1s"): "propongo",
        (PRETERITE, "1s"): "propuse",
        (PRETERITE, "3s"): "propuso",
        (FUTURE, "1s"): "propondré",
        (FUTURE, "3s"): "propondrá",
        (SUBJUNCTIVE, "2s"): "propongas",
        (SUBJUNCTIVE, "2p"): "propongáis",
        (PARTICIPLE, ""): "propuesto",
    },
    "decir": {
        (PRESENT, "1s"): "digo",
        (PRESENT, "2s"): "dices",
        (PRESENT, "3s"): "dice",
        (PRETERITE, "1s"): "dije",
        (PRETERITE, "3s"): "dijo",
        (PRETERITE, "2s"): "dijiste",
        (PRETERITE, "1p"): "dijimos",
        (PRETERITE, "2p"): "dijisteis",
        (FUTURE, "1s"): "diré",
        (FUTURE, "3s"): "dirá",
        (FUTURE, "1p"): "diremos",
        (SUBJUNCTIVE, "2s"): "digas",
        (SUBJUNCTIVE, "2p"): "digáis",
        (SUBJUNCTIVE, "3s"): "diga",
        (IMPERATIVE, "2s"): "di",
        (PARTICIPLE, ""): "dicho",
    },
    "dar": {
        (PRESENT, "1s"): "doy",
        (PRESENT, "2p"): "dais",
        (PRETERITE, "1s"): "di",
        (PRETERITE, "3s"): "dio",
        (PRETERITE, "2s"): "diste",
        (PRETERITE, "1p"): "dimos",
        (PRETERITE, "2p"): "disteis",
        (SUBJUNCTIVE, "2s"): "des",
        (SUBJUNCTIVE, "2p"): "deis",
        (SUBJUNCTIVE, "3s"): "dé",
    },
    "pedir": {
        (PRESENT, "1s"): "pido",
        (PRESENT, "2s"): "pides",
        (PRESENT, "3s"): "pide",
        (PRETERITE, "3s"): "pidió",
        (SUBJUNCTIVE, "2s"): "pidas",
        (SUBJUNCTIVE, "2p"): "pidáis",
        (SUBJUNCTIVE, "3s"): "pida",
        (IMPERATIVE, "2s"): "pide",
    },
    "traer": {
        (PRESENT, "1s"): "traigo",
        (PRETERITE, "1s"): "traje",
        (PRETERITE, "3s"): "trajo",
        (PRETERITE, "2s"): "trajiste",
        (SUBJUNCTIVE, "2s"): "traigas",
        (SUBJUNCTIVE, "2p"): "traigáis",
        (PARTICIPLE, ""): "traído",
    },
    "comprobar": {
        (PRESENT, "1s"): "compruebo",
        (PRESENT, "2s"): "compruebas",
        (PRESENT, "3s"): "comprueba",
        (SUBJUNCTIVE, "2s"): "compruebes",
        (IMPERATIVE, "2s"): "comprueba",
    },
    "probar": {
        (PRESENT, "1s"): "pruebo",
        (PRESENT, "2s"): "pruebas",
        (PRESENT, "3s"): "prueba",
        (SUBJUNCTIVE, "2s"): "pruebes",
        (IMPERATIVE, "2s"): "prueba",
    },
    "cerrar": {
        (PRESENT, "1s"): "cierro",
        (PRESENT, "2s"): "cierras",
        (PRESENT, "3s"): "cierra",
        (SUBJUNCTIVE, "2s"): "cierres",
        (IMPERATIVE, "2s"): "cierra",
    },
    "mostrar": {
        (PRESENT, "1s"): "muestro",
        (PRESENT, "2s"): "muestras",
        (PRESENT, "3s"): "muestra",
        (SUBJUNCTIVE, "2s"): "muestres",
        (IMPERATIVE, "2s"): "muestra",
    },
    "corregir": {
        (PRESENT, "1s"): "corrijo",
        (PRESENT, "2s"): "corriges",
        (PRESENT, "3s"): "corrige",
        (PRETERITE, "3s"): "corrigió",
        (SUBJUNCTIVE, "2s"): "corrijas",
        (IMPERATIVE, "2s"): "corrige",
    },
    "conseguir": {
        (PRESENT, "1s"): "consigo",
        (PRESENT, "2s"): "consigues",
        (PRESENT, "3s"): "consigue",
        (PRETERITE, "3s"): "consiguió",
        (SUBJUNCTIVE, "2s"): "consigas",
    },
    "traducir": {
        (PRESENT, "1s"): "traduzco",
        (PRETERITE, "1s"): "traduje",
        (PRETERITE, "3s"): "tradujo",
        (SUBJUNCTIVE, "2s"): "traduzcas",
    },
    "empezar": {(PRESENT, "1s"): "empiezo", (PRESENT, "3s"): "empieza", (PRETERITE, "1s"): "empecé"},
    "resolver": {(PRESENT, "1s"): "resuelvo", (PRESENT, "3s"): "resuelve", (PARTICIPLE, ""): "resuelto"},
    "devolver": {(PRESENT, "1s"): "devuelvo", (PRESENT, "3s"): "devuelve", (PARTICIPLE, ""): "devuelto"},
    "escribir": {(PARTICIPLE, ""): "escrito"},
    "aprobar": {
        (PRESENT, "1s"): "apruebo",
        (PRESENT, "2s"): "apruebas",
        (PRESENT, "3s"): "aprueba",
        (SUBJUNCTIVE, "2s"): "apruebes",
        (IMPERATIVE, "2s"): "aprueba",
    },
    "dejar": {},  # regular, but a promise only with what it leaves ("lo dejo listo", "dejo montado")
}
VERBS = (*REGULAR, *IRREGULAR)
# Forms far more often another word: "creo" (creer), "limpio" (clean).
NOT_VERBS = {"creo", "limpio"}
# Verbs whose bare first person is not enough ("lo dejo en tres generaciones" is done there and then).
NEEDS_RESULT = {"dejar"}

_ENDINGS: dict[str, dict[tuple[str, str], str]] = {
    "ar": {
        (PRESENT, "1s"): "o",
        (PRESENT, "2s"): "as",
        (PRESENT, "3s"): "a",
        (PRESENT, "1p"): "amos",
        (PRESENT, "2p"): "áis",
        (PRESENT, "3p"): "an",
        (PRETERITE, "1s"): "é",
        (PRETERITE, "2s"): "aste",
        (PRETERITE, "3s"): "ó",
        (PRETERITE, "2p"): "asteis",
        (PRETERITE, "3p"): "aron",
        (SUBJUNCTIVE, "2s"): "es",
        (SUBJUNCTIVE, "3s"): "e",
        (SUBJUNCTIVE, "2p"): "éis",
        (IMPERATIVE, "2s"): "a",
        (PARTICIPLE, ""): "ado",
    },
    "er": {
        (PRESENT, "1s"): "o",
        (PRESENT, "2s"): "es",
        (PRESENT, "3s"): "e",
        (PRESENT, "1p"): "emos",
        (PRESENT, "2p"): "éis",
        (PRESENT, "3p"): "en",
        (PRETERITE, "1s"): "í",
        (PRETERITE, "2s"): "iste",
        (PRETERITE, "3s"): "ió",
        (PRETERITE, "2p"): "isteis",
        (PRETERITE, "3p"): "ieron",
        (SUBJUNCTIVE, "2s"): "as",
        (SUBJUNCTIVE, "3s"): "a",
        (SUBJUNCTIVE, "2p"): "áis",
        (IMPERATIVE, "2s"): "e",
        (PARTICIPLE, ""): "ido",
    },
}
# -ir verbs end as -er verbs do but for "nosotros" and "vosotros" in the present.
_ENDINGS["ir"] = {**_ENDINGS["er"], (PRESENT, "1p"): "imos", (PRESENT, "2p"): "ís"}
_FUTURE_ENDINGS = {"1s": "é", "2s": "ás", "3s": "á", "1p": "emos", "2p": "éis", "3p": "án"}
# Spelling changes before e: busqué, pagué, organicé.
_BEFORE_E = {"c": "qu", "g": "gu", "z": "c"}
# enviar: envío, envías, envía, envían (the stressed i takes the accent).
_STRESSED_I = {"enviar", "reenviar"}


def _regular_forms(infinitive: str) -> dict[tuple[str, str], str]:
    stem, kind = infinitive[:-2], infinitive[-2:]
    forms: dict[tuple[str, str], str] = {}
    for key, ending in _ENDINGS[kind].items():
        if kind == "ar" and ending.startswith(("e", "é")) and stem[-1] in _BEFORE_E:
            forms[key] = stem[:-1] + _BEFORE_E[stem[-1]] + ending
        else:
            forms[key] = stem + ending
        if infinitive in _STRESSED_I and key in {
            (PRESENT, "1s"),
            (PRESENT, "2s"),
            (PRESENT, "3s"),
            (PRESENT, "3p"),
            (IMPERATIVE, "2s"),
        }:
            forms[key] = stem[:-1] + "í" + ending
    # -er/-ir: the first plural of the preterite is the present's (compartimos); -ar too (mandamos).
    forms[(PRETERITE, "1p")] = forms[(PRESENT, "1p")]
    for person, ending in _FUTURE_ENDINGS.items():
        forms[(FUTURE, person)] = infinitive + ending
    forms[(INFINITIVE, "")] = infinitive
    return forms


@cache
def _table() -> dict[str, tuple[VerbForm, ...]]:
    table: dict[str, list[VerbForm]] = {}
    for infinitive in VERBS:
        forms = _regular_forms(infinitive)
        forms.update(IRREGULAR.get(infinitive, {}))
        for (tense, person), word in forms.items():
            table.setdefault(word, []).append(VerbForm(infinitive, tense, person))
    return {word: tuple(found) for word, found in table.items()}


# "pásalo", "mándamelo", and an indirect pronoun alone: "mándame", "envíanos" (not "os": "pasad-os" would read
# the participle "pasados" as an imperative).
_ENCLITIC = re.compile(r"^(?P<verb>\w+?)(?P<clitics>(?:me|te|se|nos|os)?(?:lo|la|los|las|le|les)|me|nos)$")
_UNACCENT = str.maketrans("áéíóú", "aeiou")


def forms_of(word: str) -> tuple[VerbForm, ...]:
    """Every reading of `word` as a form of a task verb (none for other words). An imperative or an
    infinitive with pronouns attached ("pásalo", "mandármelo", "prepáralos") reads as its bare form."""
    word = word.lower()
    if word in NOT_VERBS:
        return ()
    found = _table().get(word)
    if found:
        return found
    match = _ENCLITIC.match(word)
    if not match:
        return ()
    bare = match.group("verb")
    # The accent an attached pronoun adds ("pása-lo") is not in the bare form ("pasa").
    for candidate in (bare, bare.translate(_UNACCENT)):
        readings = tuple(
            form for form in _table().get(candidate, ()) if form.tense in (IMPERATIVE, INFINITIVE)
        )
        if readings:
            return readings
    return ()


def reading(word: str, tense: str, persons: str | tuple[str, ...]) -> VerbForm | None:
    """The reading of `word` in `tense` and one of `persons`, if it has one."""
    wanted = (persons,) if isinstance(persons, str) else persons
    for form in forms_of(word):
        if form.tense == tense and form.person in wanted:
            return form
    return None


def lemma_of(word: str) -> str | None:
    """The infinitive of `word` when it is a task verb: "pasó" -> "pasar"; None for other words."""
    found = forms_of(word)
    return found[0].lemma if found else None


def with_pronoun(infinitive: str, pronoun: str | None) -> str:
    """The infinitive with an object pronoun attached, as a task reads: "pasar" + "lo" -> "pasarlo"."""
    return infinitive + pronoun.lower() if pronoun else infinitive


VERB_MARK = "v:"
_TOKEN = re.compile(r"\w+")
# After one of these a word is a noun even when a verb is spelt the same: "la maqueta", "el envío".
ARTICLES = {
    *[
        "el",
        "un",
        "una",
        "unos",
        "unas",
        "del",
        "al",
        "de",
        "mi",
        "tu",
        "su",
        "mis",
        "tus",
        "sus",
        "este",
        "ese",
        "esta",
        "esa",
        "the",
        "a",
        "an",
    ]
}


def lemma_terms(text: str) -> set[str]:
    """Content stems, task verbs as their marked infinitive: "nos pasó los accesos" -> {"v:pasar",
    "acces"} (a verb alone does not say which task: "lo mandé" fits every "mandar…")."""
    terms: set[str] = set()
    previous = ""
    for token in _TOKEN.finditer(text):
        word = token.group()
        lemma = lemma_of(word)
        if (
            lemma
            and (previous in ARTICLES or previous in {"la", "los", "las"})
            and not (
                reading(word.lower(), PRETERITE, ("1s", "2s", "3s", "1p", "2p"))
                or reading(word.lower(), PARTICIPLE, "")
            )
        ):
            lemma = None
        terms.update([VERB_MARK + lemma] if lemma else content_terms(word))
        previous = word.lower()
    return terms
