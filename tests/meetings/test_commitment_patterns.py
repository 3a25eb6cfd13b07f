"""The offline commitment patterns, sentence by sentence and in context: promises in the present and the
future, handovers ("os lo paso el lunes"), periphrases ("yo me encargo", "queda en mis manos"), requests
answered by the person asked, named owners; and what is no commitment (questions, wishes, conditions,
past actions, nouns that look like verbs). Also the verb lexicon and the due dates as said."""

from __future__ import annotations

from datetime import date

import pytest

from meetings.commitments import commitment_in, extract_commitments
from meetings.dates import resolve_due
from meetings.verbs import forms_of, lemma_of, lemma_terms

MEETING_DAY = date(2026, 3, 10)  # a Tuesday
MONDAY, WEDNESDAY, THURSDAY, FRIDAY = (date(2026, 3, d) for d in (16, 11, 12, 13))


@pytest.mark.parametrize(
    ("text", "due"),
    [
        ("el viernes de la semana que viene", date(2026, 3, 20)),
        ("el lunes de la próxima semana", date(2026, 3, 16)),
        ("on Thursday of next week", date(2026, 3, 19)),
        ("la semana que viene", date(2026, 3, 17)),
        ("esta semana", FRIDAY),
        ("by the end of this week", FRIDAY),
        ("esta tarde", MEETING_DAY),
        ("hoy mismo", MEETING_DAY),
        ("el martes que viene", date(2026, 3, 17)),
        ("el próximo jueves", THURSDAY),
        ("este martes", MEETING_DAY),  # said on a Tuesday: today
        ("el 25", date(2026, 3, 25)),
        ("el 4", date(2026, 4, 4)),  # already past this month: next month's
        ("el día trece", date(2026, 3, 13)),
        ("el viernes 20", date(2026, 3, 20)),
        ("el veintitrés de abril", date(2026, 4, 23)),
        ("el uno de febrero", date(2027, 2, 1)),
        ("el jueves 2 de abril", date(2026, 4, 2)),
        ("el viernes 10", date(2026, 4, 10)),  # the 10th that is a Friday, not today (Tuesday 10)
        ("el martes 10", MEETING_DAY),
        ("by April twenty-first", date(2026, 4, 21)),
        ("on the fifteenth of May", date(2026, 5, 15)),
        ("a finales de mayo", date(2026, 5, 31)),
        ("antes de fin de mes", date(2026, 3, 31)),
        ("antes de Navidad", date(2026, 12, 24)),
        ("en tres días", date(2026, 3, 13)),
        ("in two weeks", date(2026, 3, 24)),
        ("2026-06-01", date(2026, 6, 1)),
        ("el treinta por ciento", None),
        ("cuesta 6,90 en península y 12 en Baleares", None),
        ("el 2 de cada mes", None),
        ("por la mañana", None),
    ],
)
def test_due_dates_as_people_say_them(text: str, due: date | None) -> None:
    assert resolve_due(text, MEETING_DAY) == due


def test_the_verb_lexicon_reads_tense_person_and_attached_pronouns() -> None:
    assert {(f.lemma, f.tense, f.person) for f in forms_of("paso")} == {("pasar", "present", "1s")}
    assert {(f.lemma, f.tense) for f in forms_of("pásamelo")} == {("pasar", "imperative")}
    assert {(f.lemma, f.tense) for f in forms_of("enviárselo")} == {("enviar", "infinitive")}
    assert [(f.lemma, f.tense, f.person) for f in forms_of("envié")] == [("enviar", "preterite", "1s")]
    assert [(f.lemma, f.tense) for f in forms_of("busqué")] == [("buscar", "preterite")]
    assert [(f.lemma, f.person) for f in forms_of("pidáis")] == [("pedir", "2p")]
    assert lemma_of("hice") == lemma_of("haré") == "hacer"
    assert lemma_of("creo") is None and lemma_of("mesa") is None  # "creo" is "creer", not "crear"
    # A verb alone does not say which task; after an article the same spelling is a noun.
    assert lemma_terms("Pilar nos pasó los accesos") == {"pilar", "v:pasar", "acces"}
    assert lemma_terms("la maqueta de la home") == {"maque", "home"}


@pytest.mark.parametrize(
    ("speaker", "sentence", "owner", "task", "due"),
    [
        ("Marta", "Os paso el informe de visitas el lunes.", "Marta", "pasar el informe de visitas", MONDAY),
        ("Marta", "Te mando mañana la factura corregida.", "Marta", "mandar la factura corregida", WEDNESDAY),
        (
            "Luis",
            "Yo reviso los textos de la portada esta semana.",
            "Luis",
            "revisar los textos de la portada",
            FRIDAY,
        ),
        (
            "Luis",
            "Mañana llamo al proveedor y le pido otro presupuesto.",
            "Luis",
            "llamar al proveedor y pedir otro presupuesto",
            WEDNESDAY,
        ),
        ("Luis", "Le escribo a la gestoría hoy mismo.", "Luis", "escribir a la gestoría", MEETING_DAY),
        (
            "Ana",
            "Nosotros os enviamos el contrato firmado el jueves.",
            "Ana",
            "enviar el contrato firmado",
            THURSDAY,
        ),
        (
            "Ana",
            "Las fotos de la tienda os las subo el viernes.",
            "Ana",
            "subir las fotos de la tienda",
            FRIDAY,
        ),
        (
            "Ana",
            "Subiré las fotos al servidor el 20.",
            "Ana",
            "subir las fotos al servidor",
            date(2026, 3, 20),
        ),
        (
            "Ana",
            "Me encargo de reservar la sala para la formación.",
            "Ana",
            "reservar la sala para la formación",
            None,
        ),
        ("Ana", "Quedo pendiente de confirmar el catering.", "Ana", "confirmar el catering", None),
        (
            "Ana",
            "Vale, dejo montado el entorno el viernes, que hoy no llego.",
            "Ana",
            "dejar montado el entorno",
            FRIDAY,
        ),
        ("Pedro", "Sofía se encarga de llamar a la imprenta.", "Sofía", "llamar a la imprenta", None),
        (
            "Pedro",
            "Andrés preparará el pedido de material.",
            "Andrés",
            "preparar el pedido de material",
            None,
        ),
        (
            "Pedro",
            "Luis va a revisar los precios antes del 15 de abril.",
            "Luis",
            "revisar los precios",
            date(2026, 4, 15),
        ),
        ("Tom", "I'll get you the figures by Thursday.", "Tom", "get you the figures", THURSDAY),
        ("Tom", "We'll send you the mockups tomorrow.", "Tom", "send you the mockups", WEDNESDAY),
        (
            "Tom",
            "Sure, I will book the venue by the end of the month.",
            "Tom",
            "book the venue",
            date(2026, 3, 31),
        ),
        (
            "Tom",
            "Priya is going to update the test matrix next week.",
            "Priya",
            "update the test matrix",
            date(2026, 3, 17),
        ),
        # Promises, but of what? The extractor reads their context (below).
        ("Ana", "Os lo mando el lunes, ¿vale?", None, None, None),
        ("Ana", "Vale, lo dejo montado el viernes.", None, None, None),
        ("Ana", "Les llamo mañana.", None, None, None),
    ],
)
def test_a_sentence_that_promises(
    speaker: str, sentence: str, owner: str | None, task: str | None, due: date | None
) -> None:
    found = commitment_in(3, speaker, sentence, MEETING_DAY)
    if task is None:
        assert found is None
        return
    assert found is not None, sentence
    assert (found.owner, found.task, found.due, found.segment_ids) == (owner, task, due, [3])


@pytest.mark.parametrize(
    "sentence",
    [
        # questions
        "¿Me mandas el informe el lunes?",
        "¿Os paso el borrador esta semana?",
        "Will you send the report by Friday?",
        # wishes, conditions, doubts
        "Me gustaría revisar el diseño con calma.",
        "Si el cliente firma, os paso el calendario el lunes.",
        "Quizás os mando algo el viernes.",
        "Os pasamos la documentación cuando la tengamos.",
        "I'd like to send it next week.",
        "We could send the invoice tomorrow.",
        "If they agree, I'll send it.",
        # done, not promised
        "Os pasé el informe el lunes.",
        "Ya os mandé las fotos.",
        "He enviado el contrato esta mañana.",
        "I sent the invoice yesterday.",
        "El prototipo lo terminé el nueve, y lo revisamos con Elena el día catorce.",
        # negated
        "No os paso nada hasta el lunes.",
        "No te lo mando todavía.",
        # habits and opinions
        "Normalmente reviso los pedidos los lunes.",
        "Yo creo que el diseño está bien.",
        "Propongo lanzar el lunes.",
        "Lo hacemos con Flutter.",
        # nouns spelt like verbs
        "El envío es gratis desde sesenta euros.",
        "El siguiente paso es preparar la demo.",
        "El pago va en tres fases: diseño, desarrollo y lanzamiento.",
        "La idea es algo más limpio, con mucho blanco.",
        # a recap repeats what was promised, a reschedule moves it
        "Resumo: envío gratis desde sesenta, banner el lunes y formación el jueves.",
        "Bueno, repaso: yo mando el acta mañana; Luis pide las fotos; Marta cierra la fecha.",
        "Tareas: yo mando el acta mañana; Luis pide las fotos el lunes.",
        # an obligation that is a reason, or talk
        "Pásamelo cuando puedas, que tengo que configurar el servidor.",
        # what the meeting does now: its agenda, not a task for later
        "Empiezo por lo pendiente.",
        "Sí, y yo traigo lo de la prueba de nivel.",
        "Hoy repasamos lo de la semana y cerramos el mensaje y la oferta.",
        "Tengo que decir que el diseño me encanta.",
        "La reunión la pasamos al jueves.",
        "Todo va a salir bien.",
        "There will be a demo next week.",
    ],
)
def test_no_commitment(sentence: str) -> None:
    assert commitment_in(0, "Ana", sentence, MEETING_DAY) is None


def transcript(*turns: tuple[str, str]) -> list[dict[str, object]]:
    return [
        {"start": i * 5.0, "end": i * 5.0 + 5, "speaker": speaker, "text": text}
        for i, (speaker, text) in enumerate(turns)
    ]


def extracted(*turns: tuple[str, str]) -> list[tuple[str | None, str, date | None, list[int]]]:
    return [
        (c.owner, c.task, c.due, c.segment_ids) for c in extract_commitments(transcript(*turns), MEETING_DAY)
    ]


def test_a_pronoun_continues_the_speakers_own_promise() -> None:
    assert extracted(
        ("Luis", "Con los datos de marzo yo preparo la presentación."),
        ("Luis", "Os la paso el jueves."),
        ("Ana", "Genial."),
    ) == [("Luis", "preparar la presentación y pasarla", THURSDAY, [0, 1])]
    # In one turn too, and the later date is the due one.
    assert extracted(("Ana", "Yo pido los permisos esta semana. Se los paso a Luis el lunes.")) == [
        ("Ana", "pedir los permisos y pasarlos", MONDAY, [0])
    ]


def test_a_request_to_someone_by_name_is_their_commitment_once_they_take_it() -> None:
    # "¿te encargas tú de…?" answered "sí" by the one asked.
    assert extracted(("Ana", "Marta, ¿te encargas tú de reservar el hotel?"), ("Marta", "Sí, claro.")) == [
        ("Marta", "reservar el hotel", None, [1])
    ]
    # The object named to them, the verb of their answer.
    assert extracted(("Ana", "Pedro, el informe de ventas..."), ("Pedro", "Os lo mando el jueves.")) == [
        ("Pedro", "mandar el informe de ventas", THURSDAY, [1])
    ]
    # An imperative, answered with a handover that names nothing.
    assert extracted(("Ana", "Luis, llama a la imprenta, por favor."), ("Luis", "Sí, les llamo mañana.")) == [
        ("Luis", "llamar a la imprenta", WEDNESDAY, [1])
    ]
    # "¿le pides tú que…?" - "se lo pido yo esta semana".
    assert extracted(
        ("Ana", "Ramón, ¿le pides tú al abogado que revise el contrato?"),
        ("Ramón", "Sí, se lo pido yo esta semana."),
    ) == [("Ramón", "pedir al abogado que revise el contrato", FRIDAY, [1])]
    # English.
    assert extracted(("Tom", "Priya, can you share the test plan?"), ("Priya", "Sure.")) == [
        ("Priya", "share the test plan", None, [1])
    ]


def test_taking_on_what_the_turn_before_asked_for() -> None:
    assert extracted(
        ("Javier", "Lo que necesito es que pidáis al banco las claves del TPV."),
        ("Nuria", "Yo me encargo. Las pido mañana."),
    ) == [("Nuria", "pedir al banco las claves del TPV", WEDNESDAY, [1])]
    assert (
        extracted(
            ("Ana", "Hay que llamar al fotógrafo; necesitamos que alguien cierre la fecha."),
            ("Luis", "Queda en mis manos."),
        )
        == []
    )  # no verb a person was asked to do: nothing to take on
    assert extracted(("Ana", "Necesito que revises el presupuesto."), ("Pedro", "Diego se encarga.")) == [
        ("Diego", "revisar el presupuesto", None, [1])
    ]


def test_what_others_say_yes_to_or_never_answer_is_nobodys() -> None:
    # Luis was not asked; Marta never answered.
    assert extracted(("Ana", "Marta, ¿te encargas tú de reservar el hotel?"), ("Luis", "Sí.")) == []
    assert (
        extracted(("Ana", "Marta, ¿te encargas tú de reservar el hotel?"), ("Ana", "Bueno, seguimos.")) == []
    )
    # "Sí" to a question that asks for nothing to be done.
    assert extracted(("Ana", "Elena, ¿te parece bien el azul?"), ("Elena", "Sí.")) == []


def test_one_commitment_said_twice_in_an_exchange_is_one() -> None:
    assert extracted(
        ("Ana", "Nuria, necesitaríamos el listado de fisios por clínica."),
        ("Nuria", "Sí, os mando el listado de fisios el viernes."),
        ("Ana", "Perfecto."),
        ("Nuria", "El listado de fisios por clínica os lo mando el viernes sin falta."),
    ) == [("Nuria", "mandar el listado de fisios", FRIDAY, [1, 3])]


def test_a_date_said_just_before() -> None:
    assert extracted(
        ("Laura", "Formación el jueves 19 de marzo. Yo preparo un manual de uso para ese día.")
    ) == [("Laura", "preparar un manual de uso", date(2026, 3, 19), [0])]


def test_today_and_the_meetings_verbs_with_a_date_still_promise() -> None:
    # "Tareas" opens a recap only as a heading ("Tareas: …"); as a sentence's subject it does not.
    found = extracted(("Ana", "Tareas de la web las reviso yo el lunes."))
    assert [(owner, due) for owner, _, due, _ in found] == [("Ana", MONDAY)]
    assert extracted(("Ana", "Hoy mismo os mando el acta.")) == [("Ana", "mandar el acta", MEETING_DAY, [0])]
    assert extracted(("Ana", "Hoy os mandamos el acta.")) == [("Ana", "mandar el acta", MEETING_DAY, [0])]
    assert extracted(("Luis", "Os traigo las muestras el lunes.")) == [
        ("Luis", "traer las muestras", MONDAY, [0])
    ]


def test_more_ways_of_taking_a_task_on() -> None:
    """ "Me encargo yo de…", "tengo que…", "lo tengo para <date>" in answer to a request, and an imperative
    with one pronoun attached ("Mándame el anexo")."""
    assert extracted(("Luis", "Vale, me encargo yo de pedir presupuesto a la imprenta.")) == [
        ("Luis", "pedir presupuesto a la imprenta", None, [0])
    ]
    adapt = "Para la web tengo que adaptar los banners a móvil. Los tengo el viernes."
    assert extracted(("Marta", adapt)) == [("Marta", "adaptar los banners a móvil", FRIDAY, [0])]
    assert extracted(
        ("Ana", "Pedro, ¿preparas el plan de medios?"), ("Pedro", "Sí, lo tengo para el jueves.")
    ) == [("Pedro", "preparar el plan de medios", THURSDAY, [1])]
    assert extracted(("Ana", "Bien, aprobado. Mándame el anexo."), ("Luis", "Te lo mando mañana.")) == [
        ("Luis", "mandar el anexo", WEDNESDAY, [1])
    ]
    # "cuando puedas" is when, not what.
    keys = ("Ana", "Luis, pásame las claves cuando puedas.")
    assert extracted(keys, ("Luis", "Te las mando el lunes.")) == [("Luis", "mandar las claves", MONDAY, [1])]


def test_a_date_said_just_after() -> None:
    """In the speaker's next sentence, or repeated back by the next speaker; not a later one's date."""
    assert extracted(("Luis", "Yo preparo las preguntas del examen. Antes del puente, el viernes 13.")) == [
        ("Luis", "preparar las preguntas del examen", FRIDAY, [0])
    ]
    assert extracted(
        ("Luis", "Yo monto la integración con el banco."), ("Ana", "Vale, el jueves 12, apuntado.")
    ) == [("Luis", "montar la integración con el banco", THURSDAY, [0])]
    assert extracted(
        ("Luis", "Yo monto la integración con el banco."), ("Ana", "Genial. La reunión es el jueves.")
    ) == [("Luis", "montar la integración con el banco", None, [0])]


def test_a_request_whose_object_is_a_pronoun_or_whose_verb_is_new() -> None:
    # "¿me los mandas?": what "los" stands for is in the sentence before the request.
    assert extracted(
        ("Inés", "Para eso necesito los logos ya. Covadonga, ¿me los mandas?"),
        ("Covadonga", "Esta semana te los mando."),
    ) == [("Covadonga", "mandar (para eso necesito los logos ya)", FRIDAY, [1])]
    # "¿Podrías exportar…?": after "podrías" an infinitive is the task, whether the lexicon knows it or not.
    assert extracted(
        ("Paula", "Rocío, ¿podrías exportar de Qvet un listado de clientes?"),
        ("Rocío", "Sí. Te lo paso el jueves."),
    ) == [("Rocío", "exportar de Qvet un listado de clientes y pasarlo", THURSDAY, [1])]
    # Yes/no questions with no pronoun keep the object they name (none here: nothing to take on).
    assert extracted(("Ana", "El informe está listo. Luis, ¿vienes el lunes?"), ("Luis", "Sí.")) == []


def test_a_task_ends_with_its_item_of_a_list_said_in_one_breath() -> None:
    assert extracted(
        (
            "Marcos",
            "Repasamos: yo llamo a Quique el jueves; Olga, las hojas el viernes; y vosotras lo vuestro.",
        )
    ) == [("Marcos", "llamar a Quique", THURSDAY, [0])]


FILLER_TURNS = [("Ana", "Seguimos."), ("Luis", "Vale."), ("Pep", "Sí."), ("Nuria", "Bien.")]


def test_a_closing_recap_lists_who_does_what_by_when() -> None:
    """ "Resumo. Nuria: …", "Pep, …", "Luis pide…", "yo, …": each item is its owner's task, with its date
    (or the date said once at the end of the owner's part), cited to the recap."""
    recap = (
        "Ana",
        "Perfecto. Resumo: Nuria: las claves del TPV el viernes y las fotos el lunes dieciséis. "
        "Pep, la lista de cursos y barcos, la entrevista con Luis y el texto de la historia el jueves; "
        "Luis pide el dominio esta semana y da de alta a Pep en el panel; y yo, el anexo mañana.",
    )
    rows = extracted(*FILLER_TURNS, recap)
    assert rows == [
        ("Nuria", "las claves del TPV", FRIDAY, [4]),
        ("Nuria", "las fotos", MONDAY, [4]),
        ("Pep", "la lista de cursos y barcos", THURSDAY, [4]),
        ("Pep", "la entrevista con Luis", THURSDAY, [4]),
        ("Pep", "el texto de la historia", THURSDAY, [4]),
        ("Luis", "pedir el dominio", FRIDAY, [4]),
        ("Luis", "dar de alta a Pep en el panel", None, [4]),
        ("Ana", "el anexo", WEDNESDAY, [4]),
    ]


def test_a_recap_item_joins_the_commitment_it_restates_and_takes_its_verb() -> None:
    """The row an item restates keeps its citation and takes the item's date; an item that names only the
    thing takes the verb of the owner's turn that spoke of it, and replaces a row that missed the thing."""
    rows = extracted(
        ("Ana", "¿Y los testimonios de los alumnos?"),
        ("Nuria", "Los testimonios os los mando yo."),
        ("Luis", "Y yo preparo la presentación para el cliente el jueves."),
        ("Pep", "Vale."),
        ("Ana", "Resumo: Nuria, los testimonios el viernes; Luis, la presentación."),
    )
    assert rows == [
        ("Nuria", "mandar los testimonios", FRIDAY, [1]),
        ("Luis", "preparar la presentación para el cliente", THURSDAY, [2]),
    ]


def test_no_recap_where_a_meeting_reviews_what_was_pending_or_names_someone_in_passing() -> None:
    """ "Repaso lo pendiente de la última vez" opens a meeting with what was promised before; a recap in a
    meeting's first half is no closing one; a name inside an item ("la entrevista con Luis") owns nothing."""
    review = ("Ana", "Repaso lo pendiente de la última vez. Nuria, las credenciales del panel.")
    assert extracted(*FILLER_TURNS, review) == []
    early = ("Ana", "Resumo: Nuria, las credenciales el viernes.")
    assert extracted(early, *FILLER_TURNS) == []
    assert [row[0] for row in extracted(*FILLER_TURNS, ("Ana", "Resumo: Pep, la entrevista con Luis."))] == [
        "Pep"
    ]


def test_a_recap_item_of_two_owners_of_a_full_name_and_of_a_verb_after_its_date() -> None:
    """ "Damián y Nuria, la mesa…" is both's; "Mari Carmen: …" names her whole, not "Mari"; "el lunes
    llamas a…" and "le pasas a…" are tasks in the infinitive; "y llamar al pazo" is a task of its own."""
    turns = [("Mari Carmen", "Vale."), ("Damián", "Sí."), ("Nuria", "Bien."), ("Luis", "Hecho.")]
    recap = (
        "Luis",
        "Resumo. Mari Carmen: el lunes llamas a Informática Majorera, y el viernes le pasas a Nuria tres "
        "liquidaciones. Damián y Nuria, la mesa de roble el jueves. Luis: la lista de piezas y llamar al "
        "pazo el viernes.",
    )
    assert extracted(*turns, recap) == [
        ("Mari Carmen", "llamar a Informática Majorera", MONDAY, [4]),
        ("Mari Carmen", "pasarle a Nuria tres liquidaciones", FRIDAY, [4]),
        ("Damián", "la mesa de roble", THURSDAY, [4]),
        ("Nuria", "la mesa de roble", THURSDAY, [4]),
        ("Luis", "la lista de piezas", FRIDAY, [4]),
        ("Luis", "llamar al pazo", FRIDAY, [4]),
    ]
