"""Due dates as people say them in meetings, resolved against the meeting's date: "mañana", "el viernes de
la semana que viene", "antes de fin de mes", "esta semana", "el 25", "el veinte de octubre", "by October
twentieth", "next week", an ISO date. Spanish and English; numbers in digits or in words."""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from datetime import date, timedelta

WEEKDAYS = {
    "lunes": 0,
    "martes": 1,
    "miércoles": 2,
    "miercoles": 2,
    "jueves": 3,
    "viernes": 4,
    "sábado": 5,
    "sabado": 5,
    "domingo": 6,
    "monday": 0,
    "tuesday": 1,
    "wednesday": 2,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
}
MONTHS = {
    "enero": 1,
    "febrero": 2,
    "marzo": 3,
    "abril": 4,
    "mayo": 5,
    "junio": 6,
    "julio": 7,
    "agosto": 8,
    "septiembre": 9,
    "setiembre": 9,
    "octubre": 10,
    "noviembre": 11,
    "diciembre": 12,
    "january": 1,
    "february": 2,
    "march": 3,
    "april": 4,
    "may": 5,
    "june": 6,
    "july": 7,
    "august": 8,
    "september": 9,
    "october": 10,
    "november": 11,
    "december": 12,
}


def _day_words() -> dict[str, int]:
    spanish = [
        "uno",
        "dos",
        "tres",
        "cuatro",
        "cinco",
        "seis",
        "siete",
        "ocho",
        "nueve",
        "diez",
        "once",
        "doce",
        "trece",
        "catorce",
        "quince",
        "dieciséis",
        "diecisiete",
        "dieciocho",
        "diecinueve",
        "veinte",
        "veintiuno",
        "veintidós",
        "veintitrés",
        "veinticuatro",
        "veinticinco",
        "veintiséis",
        "veintisiete",
        "veintiocho",
        "veintinueve",
        "treinta",
    ]
    english = [
        "first",
        "second",
        "third",
        "fourth",
        "fifth",
        "sixth",
        "seventh",
        "eighth",
        "ninth",
        "tenth",
        "eleventh",
        "twelfth",
        "thirteenth",
        "fourteenth",
        "fifteenth",
        "sixteenth",
        "seventeenth",
        "eighteenth",
        "nineteenth",
        "twentieth",
    ]
    words = {word: number for number, word in enumerate(spanish, start=1)}
    words |= {word: number for number, word in enumerate(english, start=1)}
    # Spellings without the accent, "primero" and "treinta y uno"; English ordinals past twenty.
    words |= {"dieciseis": 16, "veintidos": 22, "veintitres": 23, "veintiseis": 26, "veintiún": 21}
    words |= {"primero": 1, "treinta y uno": 31, "thirtieth": 30}
    for tens, base in (("twenty", 20), ("thirty", 30)):
        for unit, number in zip(english[:9], range(1, 10), strict=True):
            if base + number <= 31:
                words[f"{tens}-{unit}"] = words[f"{tens} {unit}"] = base + number
    return words


DAY_WORDS = _day_words()
_WEEKDAY = "|".join(sorted(WEEKDAYS, key=len, reverse=True))
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_DAY = r"\d{1,2}(?:º|st|nd|rd|th)?|" + "|".join(sorted(map(re.escape, DAY_WORDS), key=len, reverse=True))
_NEXT_WEEK = r"la semana que viene|la próxima semana|la semana próxima|next week"
# A number after "el" that is not a day: "el treinta por ciento", "el 6,90", "el 2 de cada mes".
_NOT_A_DAY = (
    r"(?!\s*(?:%|por\s*ciento|[.,/]\d|de\b|a\b|euros?|€|dólares|horas?|minutos?|días|semanas|meses|años|"
    r"personas|puntos|socios|veces|mil\b|millones|y\s+(?:medio|pico)))"
)


def day_number(text: str) -> int:
    """A day of the month said in digits ("25", "3rd", "1º") or in words ("veinticinco", "twentieth")."""
    text = text.lower()
    digits = re.match(r"\d+", text)
    return int(digits.group()) if digits else DAY_WORDS[text]


def _future(candidate: date, reference: date) -> date:
    return candidate if candidate >= reference else candidate.replace(year=candidate.year + 1)


def _next_weekday(reference: date, weekday: int, *, today_counts: bool = False) -> date:
    ahead = (weekday - reference.weekday()) % 7
    return reference + timedelta(days=ahead or (0 if today_counts else 7))


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _next_day_of_month(reference: date, day: int) -> date:
    """The next date (from the meeting on) whose day of the month is `day`: "el 25"."""
    year, month = reference.year, reference.month
    for _ in range(3):
        if day <= calendar.monthrange(year, month)[1] and date(year, month, day) >= reference:
            return date(year, month, day)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    raise ValueError(day)


Resolver = Callable[[re.Match[str], date], date]


def _day_month(match: re.Match[str], reference: date) -> date:
    day, month, year = match.group("day"), match.group("month"), match.group("year")
    candidate = date(int(year) if year else reference.year, MONTHS[month.lower()], day_number(day))
    return candidate if year else _future(candidate, reference)


def _numeric(match: re.Match[str], reference: date) -> date:
    year = int(match.group(3)) if match.group(3) else reference.year
    year = year + 2000 if year < 100 else year
    candidate = date(year, int(match.group(2)), int(match.group(1)))
    return candidate if match.group(3) else _future(candidate, reference)


def _weekday_next_week(match: re.Match[str], reference: date) -> date:
    monday = reference - timedelta(days=reference.weekday()) + timedelta(days=7)
    return monday + timedelta(days=WEEKDAYS[match.group("weekday").lower()])


def _this_week(_: re.Match[str], reference: date) -> date:
    """The working week's Friday (or the meeting's day, at a weekend)."""
    return max(reference, reference + timedelta(days=4 - reference.weekday()))


def _in_some_time(match: re.Match[str], reference: date) -> date:
    count = match.group("count").lower()
    number = {"un": 1, "una": 1, "a": 1, "one": 1, "dos": 2, "two": 2, "tres": 3, "three": 3}.get(count)
    days = number if number is not None else int(count)
    unit = match.group("unit").lower()
    return reference + timedelta(days=days * (7 if unit.startswith(("seman", "week")) else 1))


def _month_end_of(match: re.Match[str], reference: date) -> date:
    """The last day of the month named ("a finales de octubre"), or of the meeting's month."""
    month = match.group("month") or match.group("month_en")
    if not month:
        return _month_end(reference.year, reference.month)
    end = _month_end(reference.year, MONTHS[month.lower()])
    return end if end >= reference else _month_end(reference.year + 1, MONTHS[month.lower()])


def _weekday_and_day(match: re.Match[str], reference: date) -> date:
    """ "el viernes 4", said on Wednesday 4 November: the next 4th that is a Friday (4 December); the next
    4th when none of the coming months' is (a slip of the tongue)."""
    day, weekday = day_number(match.group("day")), WEEKDAYS[match.group("weekday").lower()]
    candidate = _next_day_of_month(reference, day)
    for _ in range(3):
        if candidate.weekday() == weekday:
            return candidate
        candidate = _next_day_of_month(candidate + timedelta(days=1), day)
    return _next_day_of_month(reference, day)


def _weekday(match: re.Match[str], reference: date) -> date:
    this = bool(match.group("this"))
    return _next_weekday(reference, WEEKDAYS[match.group("weekday").lower()], today_counts=this)


# Most specific first: "el viernes de la semana que viene" before "la semana que viene" and "el viernes";
# "el viernes 25" before "el viernes".
DATE_PATTERNS: list[tuple[re.Pattern[str], Resolver]] = [
    (
        re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})\b"),
        lambda m, _: date(int(m.group("y")), int(m.group("m")), int(m.group("d"))),
    ),
    (
        re.compile(rf"\b(?P<weekday>{_WEEKDAY})\s+(?:de|of)\s+(?:{_NEXT_WEEK})\b", re.I),
        _weekday_next_week,
    ),
    (
        re.compile(
            rf"\b(?P<day>{_DAY})\s+(?:de\s+|of\s+)?(?P<month>{_MONTH})\b(?:,?\s+(?:de\s+)?(?P<year>\d{{4}}))?",
            re.I,
        ),
        _day_month,
    ),
    (
        re.compile(rf"\b(?P<month>{_MONTH})\s+(?:the\s+)?(?P<day>{_DAY})\b(?:,?\s+(?P<year>\d{{4}}))?", re.I),
        _day_month,
    ),
    (re.compile(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?\b"), _numeric),
    (
        re.compile(rf"\b(?P<weekday>{_WEEKDAY})\s+(?:the\s+)?(?P<day>{_DAY})\b{_NOT_A_DAY}", re.I),
        _weekday_and_day,
    ),
    (
        re.compile(
            rf"\b(?:el|del|al|on the|by the|before the|until the)\s+(?:d[ií]a\s+)?(?P<day>(?!uno\b){_DAY})\b"
            rf"{_NOT_A_DAY}",
            re.I,
        ),
        lambda m, ref: _next_day_of_month(ref, day_number(m.group("day"))),
    ),
    (re.compile(r"\bpasado mañana\b|\bday after tomorrow\b", re.I), lambda _, ref: ref + timedelta(days=2)),
    # "por la mañana", "esta mañana" are mornings, not tomorrow.
    (
        re.compile(r"(?<!la )(?<!esta )(?<!media )\bmañana\b|\btomorrow\b", re.I),
        lambda _, ref: ref + timedelta(days=1),
    ),
    (
        re.compile(
            r"\b(?:hoy|today|tonight|esta tarde|esta noche|this (?:afternoon|evening)|end of (?:the )?day|"
            r"EOD)\b",
            re.I,
        ),
        lambda _, ref: ref,
    ),
    (
        re.compile(
            r"\b(?:esta semana|this week|(?:el )?(?:fin|final) de (?:esta|la) semana|"
            r"end of (?:the|this) week)\b",
            re.I,
        ),
        _this_week,
    ),
    (re.compile(rf"\b(?:{_NEXT_WEEK})\b", re.I), lambda _, ref: ref + timedelta(days=7)),
    (
        re.compile(
            r"\b(?:en|dentro de|in|within)\s+(?P<count>\d{1,2}|un|una|a|one|dos|two|tres|three)\s+"
            r"(?P<unit>días|dia|semanas?|days?|weeks?)\b",
            re.I,
        ),
        _in_some_time,
    ),
    (
        re.compile(
            rf"\b(?:(?:a\s+)?(?:fin|final|finales)\s+de(?:l)?\s+(?:mes|(?P<month>{_MONTH}))|"
            rf"(?:the\s+)?end of (?:the )?(?:month|(?P<month_en>{_MONTH})))\b",
            re.I,
        ),
        _month_end_of,
    ),
    # A deadline "for Christmas" is Christmas Eve.
    (
        re.compile(r"\b(?:navidad(?:es)?|nochebuena|christmas)\b", re.I),
        lambda _, ref: _future(date(ref.year, 12, 24), ref),
    ),
    (
        re.compile(
            rf"\b(?P<this>este\s+|this\s+)?(?:próximo\s+|next\s+)?(?P<weekday>{_WEEKDAY})\b(?:\s+que viene)?",
            re.I,
        ),
        _weekday,
    ),
]


def resolve_due(text: str, reference: date) -> date | None:
    """The most specific date expression in `text`, resolved against the meeting date."""
    for pattern, resolve in DATE_PATTERNS:
        for match in pattern.finditer(text):
            try:
                return resolve(match, reference)
            except (ValueError, KeyError):
                continue
    return None


# Said right after a date ("el jueves 19 de noviembre... para ese día"): the date of the sentence before.
SAME_DAY = re.compile(r"\b(?:ese (?:mismo )?día|esa fecha|para entonces|that day|by then)\b", re.I)

_PREPOSITIONS = (
    r"para|antes|hasta|a|al|el|del|de|en|como muy tarde|by|on|before|until|for|no later than|the|"
    r"a más tardar|mismo"
)
# Every date expression with the words that introduce it, to cut out of a task: "enviar las fotos
# antes de fin de mes" -> "enviar las fotos".
_ANY_DATE = "|".join(f"(?:{re.sub(r'[(][?]P<[a-z_]+>', '(?:', p.pattern)})" for p, _ in DATE_PATTERNS)
DATE_PHRASE = re.compile(
    rf"(?:\b(?:{_PREPOSITIONS})\s+)*(?:{_ANY_DATE})"
    r"(?:\s+(?:mismo|por la (?:mañana|tarde|noche)|in the (?:morning|afternoon|evening)))?",
    re.I,
)
