"""The offline answerer: it quotes the retrieved sentences that answer the question, with citations."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from core.providers.llm import ContextPassage, Generation, Usage
from retrieval import answerers
from retrieval.answerers import Extract, ExtractiveAnswerer, extractive_answer, rank_sentences

SPANISH = [
    ContextPassage(3, "El proyecto empezó en marzo. Los servidores están en Frankfurt."),
    ContextPassage(
        7, "[Documento › Facturas]\nEl cliente pidió cambios. Ana enviará la factura el viernes. Luis revisa."
    ),
]
ENGLISH = [
    ContextPassage(1, "The kickoff meeting was on Monday. Everyone attended."),
    ContextPassage(2, "The hosting contract renews in May. Maria will send the invoice on Friday!"),
]


def test_extractive_answer_quotes_the_answering_sentence_with_its_citation():
    answer = extractive_answer("¿Quién enviará la factura?", SPANISH)
    assert answer.startswith("Ana enviará la factura el viernes [7].")
    assert "Frankfurt" not in answer and "[3]" not in answer and "Documento" not in answer

    answer = extractive_answer("Who will send the invoice?", ENGLISH)
    assert answer.startswith("Maria will send the invoice on Friday [2]!")
    assert "[1]" not in answer

    answer = extractive_answer("¿Dónde están los servidores?", SPANISH)
    assert answer.startswith("Los servidores están en Frankfurt [3].")


def test_extractive_answer_is_empty_when_nothing_overlaps():
    assert extractive_answer("¿Cuál es la receta de la paella?", SPANISH) == ""
    assert extractive_answer("de la que el", SPANISH) == ""  # only stop words
    assert extractive_answer("🎉🔥", ENGLISH) == ""
    assert extractive_answer("¿Quién enviará la factura?", []) == ""


async def test_the_extractive_answerer_streams_that_answer():
    usage = Usage()
    generation = Generation(messages=[], question="¿Quién enviará la factura?", passages=SPANISH)
    pieces = [piece async for piece in ExtractiveAnswerer().answer(generation, usage)]
    assert len(pieces) > 1 and "".join(pieces) == extractive_answer(generation.question, SPANISH)
    assert usage.completion_tokens == len(pieces) and usage.prompt_tokens > 0


def test_a_citation_stands_only_where_its_source_supports_the_sentence() -> None:
    from retrieval.answer import keep_supported_citations

    sources = _budget_and_support()
    answer = "El presupuesto es de 18.500 euros [1]. El hosting cuesta cuarenta euros al mes [2]."
    assert keep_supported_citations(answer, sources) == (
        "El presupuesto es de 18.500 euros [1]. El hosting cuesta cuarenta euros al mes."
    )
    assert (
        keep_supported_citations("Se atienden en cuatro horas [2].", sources)
        == "Se atienden en cuatro horas [2]."
    )


def test_a_sentence_left_uncited_is_cited_to_the_source_that_holds_most_of_its_words() -> None:
    from retrieval.answer import cite_uncited_sentences

    sources = _budget_and_support()
    answer = (
        "El presupuesto cerrado es de 18.500 euros.\n"
        "Las incidencias críticas se atienden en cuatro horas [2]. Sí. "
        "El equipo celebrará la entrega con una cena"
    )
    assert cite_uncited_sentences(answer, sources) == (
        "El presupuesto cerrado es de 18.500 euros [1].\n"
        "Las incidencias críticas se atienden en cuatro horas [2]. Sí. "
        "El equipo celebrará la entrega con una cena"
    )
    # Half of the words is not enough when the model did not claim the source.
    half = "El presupuesto incluye diseño, fotografía y formación."
    assert cite_uncited_sentences(half, sources) == half
    assert cite_uncited_sentences("Cuatro horas para incidencias críticas", sources) == (
        "Cuatro horas para incidencias críticas [2]"
    )


def _budget_and_support() -> list[Any]:
    """Two numbered document sources: [1] the budget, [2] the support hours."""
    import uuid

    from core.models import SourceType
    from retrieval.answer import Source
    from retrieval.search import Hit

    def source(n: int, text: str) -> Source:
        hit = Hit(n, uuid.uuid4(), SourceType.DOCUMENT, uuid.uuid4(), 0, text, {}, 0.1, 0.9, None)
        return Source(n, hit)

    return [
        source(1, "[Documento › Propuesta]\nEl presupuesto cerrado es de 18.500 euros más IVA."),
        source(2, "[Documento › Soporte]\nLas incidencias críticas se atienden en cuatro horas."),
    ]


# Transcript windows as the answerer gets them: a header, then one "[mm:ss] Speaker: text" line per turn.
MEETING = ContextPassage(
    4,
    "[Transcripción › Arranque]\n"
    "[01:02] Sofía: Decidido, sin pagos. Siguiente: los tipos de cita. ¿Cuáles tenéis?\n"
    "[01:09] Nuria: Primera visita, que dura una hora, y sesión de seguimiento.\n"
    "[01:20] Andrés: Y pilates terapéutico, en grupo.\n"
    "[01:31] Laura: Elena, el Excel de socios...\n"
    "[01:35] Elena: Lo mandé cifrado, son mil cuatrocientos treinta y dos.\n"
    "[01:44] Diego: La hacemos con Flutter, un solo código para las dos plataformas.\n"
    "[01:52] Ramón: Vale, de la tecnología de la app no entiendo.",
)
LEDGER = ContextPassage(
    1,
    "[Compromiso › Revisión]\nJavier: dejar montado el entorno de pruebas con WooCommerce (fecha: 13 de "
    "octubre de 2026; estado: cumplido, «Os mandé el enlace y las claves.»)",
)
PROMISE = ContextPassage(
    2, "[Transcripción › Diseño]\n[05:24] Javier: Voy a dejar montado el entorno de pruebas con WooCommerce."
)


def test_a_turn_that_ends_asking_is_answered_by_the_next_turns_not_by_its_lead_in() -> None:
    answer = extractive_answer("¿Qué tipos de cita se podrán reservar?", [MEETING])
    assert "Primera visita" in answer and "pilates" in answer
    best = rank_sentences("¿Qué tipos de cita se podrán reservar?", [MEETING])[0]
    assert best.sentence.startswith("Nuria: Primera visita")  # not "Siguiente: los tipos de cita."
    # A turn left open ("Elena, el Excel de socios...") asks the next speaker too.
    answer = extractive_answer("¿Cuántos socios venían en el Excel?", [MEETING])
    assert "mil cuatrocientos treinta y dos" in answer


def test_a_what_question_prefers_the_sentence_that_names_something() -> None:
    talk = ContextPassage(
        5,
        "[Transcripción › Visitas]\n"
        "[02:10] Ramón: Para las reservas de visitas queremos un plugin sencillo.\n"
        "[02:16] Javier: Para las reservas de visitas hay un plugin, Bookings, de pago.",
    )
    for question in ("¿Qué plugin se usará para las reservas de visitas?", "Which plugin for the reservas?"):
        assert rank_sentences(question, [talk])[0].sentence.startswith("Javier: Para las reservas")
    # Without the question word there is nothing to name: the sentences rank by their words alone.
    assert rank_sentences("¿Plugin sencillo para las reservas?", [talk])[0].sentence.startswith("Ramón")


def test_whether_something_was_done_is_answered_from_the_ledger_first() -> None:
    best = rank_sentences("¿Está montado el entorno de pruebas?", [LEDGER, PROMISE])[0]
    assert best.n == 1 and "13 de octubre" in best.sentence
    # A question with a question word is not a status question: the ledger line gets no preference.
    assert rank_sentences("¿Quién monta el entorno de pruebas?", [LEDGER, PROMISE])[0].n == 2


def test_question_words_are_stop_words_with_or_without_accents() -> None:
    from core.text import content_terms

    terms = content_terms("¿Cuánto cuesta? ¿Cuáles tenéis? ¿Quiénes vienen? cuanto")
    assert terms == ("cuest", "tenei", "viene")


def test_a_sentence_that_only_echoes_the_question_is_no_answer() -> None:
    passages = [
        ContextPassage(6, "[Reunión › Arranque de la web]\nReunión «Arranque de la web». Estado: terminada."),
        ContextPassage(3, "[Transcripción › Arranque]\n[00:40] Pilar: El presupuesto son 18.500 más IVA."),
    ]
    best = rank_sentences("¿Cuál era el presupuesto de la web en el arranque?", passages)[0]
    assert best.sentence == "Pilar: El presupuesto son 18.500 más IVA."


def test_a_hard_wrapped_document_sentence_is_quoted_whole() -> None:
    """A Markdown document wraps its lines: the sentence that answers is the one that runs over the wrap,
    not the half before it."""
    contract = ContextPassage(
        1,
        "[Documento › Notas del contrato › Notas del contrato (para el equipo)]\n"
        "- **Garantía**: seis meses desde la publicación. Cubre errores, no cambios de\n"
        "  funcionalidad.\n"
        "- **Protección de datos**: Nébula trata los datos. Los datos se alojan en servidores de\n"
        "  la Unión Europea (Fráncfort). La subcontratación está autorizada.",
    )
    answer = extractive_answer("¿Dónde se alojan los datos de la app?", [contract])
    assert "Los datos se alojan en servidores de la Unión Europea (Fráncfort) [1]." in answer


def test_a_sentence_is_read_with_the_heading_of_its_section() -> None:
    """ "What does maintenance cost?" is answered under "## Mantenimiento" by a sentence that never says
    the word; another section's price is not the answer."""
    proposal = [
        ContextPassage(
            1,
            "[Documento › Propuesta de la app › Propuesta: app del club › Pagos]\n"
            "| desarrollo | 20.000 € | al entregar la versión de pruebas |\n"
            "| lanzamiento en las tiendas | 6.000 € | al publicar |",
        ),
        ContextPassage(
            2,
            "[Documento › Propuesta de la app › Propuesta: app del club › Mantenimiento]\n"
            "Opcional, desde la publicación: 450 € al mes, con actualizaciones para nuevas versiones de iOS\n"
            "y Android, alojamiento del servidor y soporte.",
        ),
    ]
    answer = extractive_answer("¿Cuánto cuesta el mantenimiento?", proposal)
    assert answer.startswith("Opcional, desde la publicación: 450 € al mes"), answer
    assert "20.000" not in answer and "6.000" not in answer
    # A meeting's or an item's header names no section, and lends its words to nothing.
    meeting = [ContextPassage(1, "[Transcripción › Mantenimiento de la app]\n[00:05] Ana: Hola a todos.")]
    assert rank_sentences("¿Cuánto cuesta el mantenimiento?", meeting) == []


def test_a_price_question_is_not_answered_by_what_quotes_no_price() -> None:
    """The retrieved turn is about the question's words (dry needling, a session), not its answer: the
    offline answerer says nothing, and the pipeline says it does not know. With a price, it answers."""
    durations = [
        ContextPassage(
            1,
            "[Transcripción › Arranque]\n[03:10] Nuria: Primera visita, una hora; sesión de seguimiento, "
            "cuarenta y cinco minutos; y punción seca, treinta minutos.",
        )
    ]
    assert extractive_answer("¿Cuánto cuesta una sesión de punción seca?", durations) == ""
    assert "treinta minutos" in extractive_answer("¿Cuánto dura una sesión de punción seca?", durations)
    priced = [*durations, ContextPassage(2, "[Documento › Tarifas]\nLa sesión de punción seca cuesta 35 €.")]
    answer = extractive_answer("¿Cuánto cuesta una sesión de punción seca?", priced)
    assert "La sesión de punción seca cuesta 35 € [2]." in answer


def test_another_meetings_word_on_the_same_thing_is_quoted_too() -> None:
    """The kick-off agreed a budget, the review raised it: the answer quotes both meetings, even where it
    quotes a single sentence otherwise."""
    kickoff = ContextPassage(
        1,
        "[Transcripción › Arranque]\n[05:00] Pilar: El presupuesto de la web es de 18.500 euros.",
        None,
        "m1",
    )
    review = ContextPassage(
        2,
        "[Transcripción › Revisión]\n[02:00] Laura: Con la ampliación, el presupuesto web sube a 21.300.",
        None,
        "m2",
    )
    question = "¿Cómo ha cambiado el presupuesto de la web?"
    answer = extractive_answer(question, [kickoff, review], max_sentences=1)
    assert "18.500 euros [1]" in answer and "21.300 [2]" in answer
    # The same passages from no meeting (documents): one sentence, as asked.
    plain = [replace(kickoff, meeting=None), replace(review, meeting=None)]
    assert len(re.findall(r"\[\d\]", extractive_answer(question, plain, max_sentences=1))) == 1


def test_another_meeting_lends_one_sentence_strong_enough_and_new() -> None:
    passages = [
        ContextPassage(1, "", None, "m1"),
        ContextPassage(2, "", None, "m2"),
        ContextPassage(3, "", None, "m3"),
        ContextPassage(4, "", None, None),
    ]
    chosen = [Extract(1, "Ana: El presupuesto es de 18.500 euros.", 1.0)]
    ranked = [
        *chosen,
        Extract(4, "Un documento sin reunión habla del presupuesto.", 0.9),  # no meeting
        Extract(1, "La misma reunión lo repite.", 0.8),  # a meeting already quoted
        Extract(2, "Luis: El presupuesto es de 18.500 euros.", 0.7),  # says what is quoted already
        Extract(3, "Con la ampliación sube a 21.300 euros.", 0.5),
        Extract(2, "Otra frase de la segunda reunión.", 0.45),
    ]
    assert answerers._another_meeting(ranked, chosen, passages) == [ranked[4]]
    assert answerers._another_meeting(ranked[:4], chosen, passages) == []  # below the share: nothing


def test_a_question_that_only_mentions_money_is_not_held_to_a_price() -> None:
    """ "Who sends the budget?" names a budget and asks for a person: the answer needs no amount."""
    minutes = [ContextPassage(1, "[Documento › Acta › Plazos]\nAna envía el presupuesto el viernes.")]
    for question in ("¿Quién envía el presupuesto?", "¿Cuándo se envía el presupuesto?"):
        assert extractive_answer(question, minutes).startswith("Ana envía el presupuesto el viernes [1]")


def test_a_short_reply_that_gives_what_was_asked_is_the_answer() -> None:
    """ "¿Quién va a aprobar los textos y el diseño?" - "Nuria. Yo no tengo tiempo, sinceramente.": the
    one-word reply names the person; it is neither too short nor an echo of the question."""
    meeting = ContextPassage(
        3,
        "[Transcripción › Arranque]\n"
        "[03:28] Javier: Sí, lo intento en la primera, y si no, segunda fase.\n"
        "[03:33] Sofía: Vale. ¿Quién va a aprobar los textos y el diseño?\n"
        "[03:39] Andrés: Nuria. Yo no tengo tiempo, sinceramente.\n"
        "[03:44] Sofía: Nuria, necesitaríamos el listado de fisios por clínica.",
    )
    best = rank_sentences("¿Quién aprueba los textos y el diseño del sistema?", [meeting])[0]
    assert best.sentence == "Andrés: Nuria."
    assert extractive_answer("¿Quién aprueba los textos y el diseño del sistema?", [meeting]).startswith(
        "Andrés: Nuria [3]."
    )


def test_whether_it_was_done_is_answered_with_what_was_said_after_the_evidence() -> None:
    """The ledger says the photos were sent; the turn its evidence comes from says how many."""
    ledger = ContextPassage(
        1,
        "[Compromiso › Arranque de la web]\nElena: enviar las fotos de los vinos (fecha: 30 de septiembre "
        "de 2026; estado: cumplido, «Las fotos ya están.»)",
        None,
        "m1",
    )
    review = ContextPassage(
        2,
        "[Transcripción › Revisión del diseño]\n[00:34] Laura: Elena, ¿las fotos?\n"
        "[00:37] Elena: Las fotos ya están. Ya os las mandé el martes, por WeTransfer. Son ciento veinte, "
        "de las botellas y del viñedo. Y el logo también.\n"
        "[00:47] Laura: Vale. Javier, tu plan de migración...",
        None,
        "m2",
    )
    answer = extractive_answer("¿Mandó Elena las fotos de los vinos?", [ledger, review])
    assert "estado: cumplido" in answer
    assert "Son ciento veinte, de las botellas y del viñedo [2]." in answer
    assert "logo" not in answer and "migración" not in answer  # two sentences of that turn, no more


def test_evidence_without_words_pulls_in_nothing() -> None:
    """«Sí.» cannot be told from any other "Sí.": the turn after some other yes is not quoted."""
    ledger = ContextPassage(
        1,
        "[Compromiso › Arranque]\nElena: enviar las fotos (fecha: 30 de septiembre; estado: cumplido, «Sí.»)",
    )
    other = ContextPassage(
        2, "[Transcripción › Revisión]\n[00:10] Pilar: Sí. El banco cambia de tarifa en enero."
    )
    answer = extractive_answer("¿Mandó Elena las fotos?", [ledger, other])
    assert "estado: cumplido" in answer and "tarifa" not in answer


def test_a_turn_quoted_twice_is_one_sentence_even_when_it_opens_with_a_colon() -> None:
    """A key point quotes the turn "Y una cosa: para el desarrollo…" and the transcript has it as
    "Laura: Y una cosa: …". "Laura: " is a speaker; "Y una cosa: " is the sentence's own lead-in, so both
    say the same thing and the answer quotes it once."""
    point = ContextPassage(
        1,
        "[Punto clave › Arranque de la app]\n"
        "Y una cosa: para el desarrollo vamos a contar con un estudio de Lisboa, Brightside Apps.",
    )
    turn = ContextPassage(
        2,
        "[Transcripción › Arranque de la app]\n"
        "[12:10] Laura: Y una cosa: para el desarrollo vamos a contar con un estudio de Lisboa, "
        "Brightside Apps.",
    )
    answer = extractive_answer("¿Con qué estudio de Lisboa van a desarrollar la app?", [point, turn])
    assert answer.count("Brightside Apps") == 1
    assert answerers._key("María de la Fuente: Sí, lo mando.") == answerers._key("Sí, lo mando.")
    assert answerers._key("Nota: no lo mando.") == answerers._key("no lo mando.")
    assert answerers._key("Y una cosa: lo mando.") != answerers._key("lo mando.")


def test_a_table_row_is_read_with_its_columns_names() -> None:
    """ "How many members does the Bilbao gym have?" is answered by the row "| Bilbao | … | 310 |", which
    holds none of the question's words but under a header that says "socios"; the header row answers
    nothing by itself and is not quoted."""
    gyms = [
        ContextPassage(
            1,
            "[Documento › Datos de partida › Los gimnasios]\n"
            "| gimnasio | dirección | socios |\n"
            "| --- | --- | --- |\n"
            "| Bilbao | Gran Vía, 12 | 310 |\n"
            "| Getxo | calle Mayor, 3 | 180 |\n\n"
            "Total: 490 socios en los dos gimnasios.",
        )
    ]
    answer = extractive_answer("¿Cuántos socios tiene el gimnasio de Bilbao?", gyms)
    assert answer.startswith("gimnasio: Bilbao; dirección: Gran Vía, 12; socios: 310 [1]."), answer
    assert "| gimnasio |" not in answer and "---" not in answer
    # A row whose cells do not match the header's keeps its cells; a table without a header too.
    loose = [ContextPassage(1, "| Bilbao | 310 |\n| Getxo | calle Mayor, 3 | 180 |")]
    assert "Getxo | calle Mayor, 3 | 180" in extractive_answer("¿Qué dirección tiene Getxo?", loose)


def test_a_question_typed_without_accents_still_asks_for_something() -> None:
    """ "en que sede se hace la formacion?" asks where, typed without accents or opening mark: it is not
    a question whether something was done, which the commitment ledger would answer first."""
    for question in (
        "en que sede se hace la formacion?",
        "donde se hace la formacion",
        "cuando empieza la formacion",
        "Precio del curso de formación?",
        "Fecha de la formación?",
    ):
        assert not answerers.Asked.of(question).status, question
    for question in ("¿Mandó Ana el temario?", "Ana mandó el temario?", "¿Ya está hecha la formación?"):
        assert answerers.Asked.of(question).status, question
    # Inside a sentence "como" and "que" are no question words.
    assert answerers.Asked.of("¿Lo mandó como dijo que lo mandaría?").status


def test_a_question_that_starts_with_a_price_asks_for_one_and_one_is_not_a_price() -> None:
    """ "Precio del módulo?" asks for money: the sentence with euros wins over the one that only says "un
    módulo nuevo" (whose "un" is an amount for "how many", not a price)."""
    meeting = [
        ContextPassage(
            1,
            "[Transcripción › Seguimiento]\n"
            "[10:02] Marta: Eso sería un módulo nuevo de reservas, con avisos y un calendario.\n"
            "[10:20] Marta: El módulo de reservas sale por tres mil doscientos euros.",
        )
    ]
    wants = answerers.Asked.of("Precio del módulo de reservas?")
    assert wants.price and wants.money and not wants.status
    answer = extractive_answer("Precio del módulo de reservas?", meeting)
    assert answer.startswith("Marta: El módulo de reservas sale por tres mil doscientos euros [1]."), answer


def test_how_many_things_a_price_covers_is_a_count_not_a_price() -> None:
    """ "¿Cuántas sesiones entran en el precio?" counts sessions: "hasta 8 sesiones" answers it although
    it quotes no money, and the price check does not silence it."""
    offer = [
        ContextPassage(
            1,
            "[Documento › Propuesta › Qué incluye]\n"
            "- Formación: hasta 8 sesiones de dos horas en vuestra sede.\n"
            "- Sesiones adicionales: 240 € + IVA cada una.",
        )
    ]
    question = "¿Cuántas sesiones de formación entran en el precio?"
    wants = answerers.Asked.of(question)
    assert wants.amount and not wants.money and not wants.price
    assert "hasta 8 sesiones" in extractive_answer(question, offer)
    assert answerers.Asked.of("¿Cuántos euros cuesta una sesión adicional?").price


def test_where_things_ended_up_is_said_in_the_latest_meeting() -> None:
    """ "¿Qué proveedor de correo queda al final?": the kick-off chose one, the review changed it; the
    review's sentence leads. "al final" says which meeting counts, not what the answer is about: "informe
    final" is not a match. Without "al final", the earlier meeting's closer match leads as before."""
    meetings = [
        ContextPassage(
            1,
            "[Transcripción › Arranque]\n[05:00] Ana: Para el correo, el proveedor será Mailjet, con el "
            "plan básico.",
            meeting="m1",
            when="2026-10-01T09:00:00+00:00",
        ),
        ContextPassage(
            2,
            "[Transcripción › Revisión]\n[02:00] Luis: Cambiamos de proveedor: nos quedamos con Sendinblue.\n"
            "[02:30] Ana: Y el informe final del correo lo mando el viernes.",
            meeting="m2",
            when="2026-11-05T09:00:00+00:00",
        ),
    ]
    ranked = rank_sentences("¿Qué proveedor de correo queda al final?", meetings)
    assert ranked[0].sentence == "Luis: Cambiamos de proveedor: nos quedamos con Sendinblue.", ranked
    answer = extractive_answer("¿Qué proveedor de correo queda al final?", meetings)
    assert "Sendinblue [2]" in answer and "informe final" not in answer, answer
    assert answerers.Asked.of("¿En qué quedó lo del correo?").latest
    # Which of the proposals they chose is said where they chose it, after the kick-off that proposed them.
    assert answerers.Asked.of("¿Qué diseño de la agenda eligieron?").latest
    assert answerers.Asked.of("Which design did they choose? Which one was chosen?").latest
    assert not answerers.Asked.of("¿Qué proveedor de correo se eligió en el arranque?").latest
    first = rank_sentences("¿Qué proveedor de correo se eligió?", meetings)[0]
    assert first.n == 1, first


def test_a_meetings_record_is_no_answer_unless_the_meeting_is_asked_about() -> None:
    """The record's "Reunión «Revisión de la campaña: correo y lema»." holds the question's words in its
    title and says nothing about them."""
    record = (
        "[Reunión › Revisión de la campaña: correo y lema]\nReunión «Revisión de la campaña: correo y lema»."
    )
    passages = [
        ContextPassage(1, record),
        ContextPassage(
            2, "[Transcripción › Revisión]\n[01:00] Ana: Para el correo de la campaña usamos Brevo."
        ),
    ]
    answer = extractive_answer("¿Qué correo usa la campaña?", passages)
    assert answer.startswith("Ana: Para el correo de la campaña usamos Brevo [2]."), answer
    assert "Reunión «" not in answer
    ranked = rank_sentences("¿En qué reunión se revisó el lema de la campaña?", passages)
    assert ranked[0].n == 1


def test_a_turn_that_asks_another_things_price_lends_its_reply_nothing() -> None:
    """ "¿Y cuánto cuesta cada SMS?" shares only "cuesta" with "¿Cuánto cuesta una sesión de punción
    seca?": its reply's euros are the SMS's, so the price question stays unanswered; asked about the SMS,
    the reply answers. A budget is a thing, not a price word: "el presupuesto firmado" still lends."""
    meeting = [
        ContextPassage(
            1,
            "[Transcripción › Arranque]\n"
            "[01:00] Nuria: ¿Y cuánto cuesta cada SMS?\n"
            "[01:05] Javier: Unos seis céntimos. Con dos mil citas, serían ciento veinte euros al mes.\n"
            "[01:20] Nuria: Primera visita, una hora; punción seca, treinta minutos.",
        )
    ]
    assert extractive_answer("¿Cuánto cuesta una sesión de punción seca?", meeting) == ""
    assert "ciento veinte euros" in extractive_answer("¿Cuánto cuesta cada SMS?", meeting)
    signed = [
        ContextPassage(
            1,
            "[Transcripción › Arranque]\n"
            "[00:40] Laura: Lo que firmamos fue el presupuesto de doce mil euros, ¿correcto?\n"
            "[00:50] Pilar: Sí, 12.000 más IVA.",
        )
    ]
    assert "12.000 más IVA" in extractive_answer("¿Cuál fue el presupuesto firmado?", signed)
    # A conversation names its subject once: the price said two turns after "Mailjet" is Mailjet's.
    talk = [
        ContextPassage(
            1,
            "[Transcripción › Arranque]\n"
            "[02:00] Ana: Lo de Mailjet para los avisos lo miraba Luis.\n"
            "[02:05] Luis: Lo miré ayer.\n"
            "[02:10] Luis: Son veinte euros al mes.",
        )
    ]
    assert "veinte euros al mes" in extractive_answer("¿Cuánto costaría Mailjet al mes?", talk)
    # The unit a price is per is no topic: the hosting's monthly price is not the API's.
    hosting = [ContextPassage(1, "[Documento › Propuesta › Mantenimiento]\nAlojamiento: 90 € + IVA al mes.")]
    assert extractive_answer("¿Cuánto cuesta la API de mapas al mes?", hosting) == ""
    assert "90 € + IVA al mes" in extractive_answer("¿Cuánto cuesta el alojamiento al mes?", hosting)


def test_what_is_charged_or_paid_is_asked_as_a_price() -> None:
    """ "¿Cuánto cobra…?" asks for money like "¿Cuánto cuesta…?": a reply without an amount is no answer."""
    api = [
        ContextPassage(
            1,
            "[Transcripción › Integración]\n[02:00] Hugo: Gestacad tiene una API, pero hay que pedirla, "
            "no viene activada por defecto.",
        )
    ]
    assert extractive_answer("¿Cuánto cobra Gestacad por activar la API?", api) == ""
    priced = [*api, ContextPassage(2, "[Documento › Costes]\nGestacad cobra 40 € al mes por la API.")]
    charged = extractive_answer("¿Cuánto cobra Gestacad por activar la API?", priced)
    assert "cobra 40 € al mes por la API [2]" in charged
    assert "cobra 40 € al mes" in extractive_answer("cuanto pagamos por la API de Gestacad", priced)
    # "¿A cuánto sale…?" asks a price too; "¿Cuántos salen…?" does not.
    assert extractive_answer("¿A cuánto sale la API de Gestacad?", api) == ""
    assert "cobra 40 € al mes" in extractive_answer("¿A cuánto sale la API de Gestacad?", priced)
    assert not answerers.Asked.of("¿Cuántos niños salen en la foto?").money


def test_a_count_is_a_number_of_what_is_counted() -> None:
    """ "¿Cuántos profesores…?" answered by "seis academias" would pass for an answer: a count question
    wants a number said next to what it counts, a table row read with its header, or a number in reply."""
    academies = [
        ContextPassage(
            1,
            "[Documento › Brief]\nQue los alumnos de las seis academias de Academias Lumen hagan desde el "
            "móvil lo que hoy hacen en secretaría. Correo: una cuenta por profesor.",
        )
    ]
    assert extractive_answer("¿Cuántos profesores tiene Academias Lumen en plantilla?", academies) == ""
    assert "seis academias" in extractive_answer("¿Cuántas academias tiene Lumen?", academies)
    staff = [*academies, ContextPassage(2, "[Documento › Equipo]\nEn plantilla hay 38 profesores nativos.")]
    teachers = "¿Cuántos profesores tiene Academias Lumen en plantilla?"
    assert "38 profesores" in extractive_answer(teachers, staff)
    table = [
        ContextPassage(
            1,
            "[Documento › Academias]\n| academia | alumnos |\n| --- | --- |\n"
            "| Jerez | 290 |\n| Triana | 460 |",
        )
    ]
    assert "alumnos: 290" in extractive_answer("¿Cuántos alumnos tiene la academia de Jerez?", table)
    reply = [
        ContextPassage(
            1,
            "[Transcripción › Arranque]\n[01:00] Ana: ¿Y cuántos alumnos por grupo como máximo?\n"
            "[01:05] Pepa: Ocho, nunca más.",
        )
    ]
    assert "Ocho" in extractive_answer("¿Cuántos alumnos por grupo como máximo?", reply)


def test_a_who_question_is_answered_by_someone() -> None:
    """ "¿Quién hace la traducción?" answered by what the translation costs names nobody: no answer. A
    name, a speaker speaking of themself, a reply to the turn that asked, or a ledger line's owner do."""
    price = [
        ContextPassage(
            1,
            "[Transcripción › Seguimiento]\n[05:06] Nerea: Vale. El francés son mil trescientos euros más: "
            "la traducción y la versión en francés de toda la web.",
        )
    ]
    assert extractive_answer("¿Quién hace la traducción al francés de la web?", price) == ""
    named = [ContextPassage(1, "[Documento › Equipo]\nLa traducción al francés la hace Claire Dubois.")]
    assert "Claire Dubois" in extractive_answer("¿Quién hace la traducción al francés?", named)
    themself = [
        ContextPassage(1, "[Transcripción › Seguimiento]\n[05:10] Inés: La traducción al francés la hago yo.")
    ]
    assert "la hago yo" in extractive_answer("¿Quién hace la traducción al francés?", themself)
    owner = [
        ContextPassage(1, "[Compromiso › Seguimiento]\nInés: traducir la web al francés (estado: pendiente)")
    ]
    assert "traducir la web" in extractive_answer("quien traduce la web al francés?", owner)
    # A reply names someone only to a turn that asked who: "¿Y el francés?" asked what it costs.
    replied = [
        ContextPassage(
            1,
            "[Transcripción › Seguimiento]\n[05:00] Covadonga: ¿Y la traducción al francés de la web?\n"
            "[05:06] Nerea: El francés son mil trescientos euros más, con la versión en francés.",
        )
    ]
    assert extractive_answer("¿Quién hace la traducción al francés de la web?", replied) == ""
    asked_who = [
        ContextPassage(
            1,
            "[Transcripción › Seguimiento]\n[05:00] Covadonga: ¿Y quién hace la traducción al francés?\n"
            "[05:06] Nerea: La agencia de Oviedo, con la versión en francés.",
        )
    ]
    assert "La agencia de Oviedo" in extractive_answer(
        "¿Quién hace la traducción al francés de la web?", asked_who
    )


def test_whether_someone_did_it_is_answered_by_their_own_report_at_the_later_meeting() -> None:
    """ "¿Mandó Olga el listado de clínicas?": Olga's report at the follow-up shares few of its words ("Lo
    mandé el viernes…"); it is quoted after the promise, with the next sentence of her turn (how it went)."""
    kickoff = ContextPassage(
        1,
        "[Transcripción › Arranque]\n[05:10] Marcos: Olga, necesito el listado de clínicas.\n"
        "[05:15] Olga: El lunes treinta te lo mando.",
        None,
        "m1",
        "2026-10-21T08:00:00+00:00",
    )
    follow_up = ContextPassage(
        2,
        "[Transcripción › Seguimiento]\n[01:20] Marcos: Siguiente: las clínicas del piloto.\n"
        "[01:28] Olga: Lo mandé el viernes veintitrés, como dije. Ciento cuarenta y tres clínicas.\n"
        "[01:40] Marcos: Genial. Yo hice la llamada a Quique.",
        None,
        "m2",
        "2026-11-25T08:00:00+00:00",
    )
    answer = extractive_answer("olga mando el listado de clinicas?", [kickoff, follow_up])
    assert "Lo mandé el viernes veintitrés, como dije [2]" in answer
    assert "Ciento cuarenta y tres clínicas" in answer and "Quique" not in answer  # Marcos' report is his
    # Nothing reported at a later meeting: nothing added.
    assert "mandé" not in extractive_answer("olga mando el listado de clinicas?", [kickoff])


def test_the_report_quoted_is_of_the_asked_action() -> None:
    """ "¿Mandó Ainhoa la lista?": of Ainhoa's two reports, the one that says "mandé" answers, not the one
    about handing the deeds to Iker, even where the latter was quoted as the ledger's evidence."""
    follow_up = ContextPassage(
        1,
        "[Transcripción › Seguimiento]\n[00:40] Iker: Ainhoa, lo de la lista de cervezas llegó tarde.\n"
        "[00:49] Ainhoa: Y las escrituras se las pasé a Iker al día siguiente, como quedamos. Ya, perdona. "
        "Dije el viernes y os la mandé el martes trece.",
        None,
        "m2",
        "2026-11-05T09:00:00+00:00",
    )
    answer = extractive_answer("¿Mandó Ainhoa la lista de cervezas cuando dijo?", [follow_up])
    assert "os la mandé el martes trece [1]" in answer


def test_a_report_by_someone_else_that_names_the_asked_person_answers_too() -> None:
    """ "¿Mandó Patxi el plano?" answered at the follow-up by whoever received it: "Patxi, el plano me llegó
    el lunes diecinueve"."""
    kickoff = ContextPassage(
        1,
        "[Transcripción › Arranque]\n[04:10] Garazi: Patxi, necesito el plano de la etiqueta.\n"
        "[04:15] Patxi: Te lo mando la semana que viene.",
        None,
        "m1",
        "2026-10-15T09:00:00+00:00",
    )
    follow_up = ContextPassage(
        2,
        "[Transcripción › Seguimiento]\n[00:20] Garazi: Vale. Patxi, el plano me llegó el lunes diecinueve.\n"
        "[00:26] Patxi: De nada.",
        None,
        "m2",
        "2026-11-17T15:00:00+00:00",
    )
    answer = extractive_answer("mandó Patxi el plano de la etiqueta?", [kickoff, follow_up])
    assert "el plano me llegó el lunes diecinueve [2]" in answer


def _budget_meetings() -> list[ContextPassage]:
    """The proposal's budget said at the kick-off; the review adds French and sums the budget up anew, in
    words the question does not use ("total", not "presupuesto"), and the client agrees to the figure."""
    return [
        ContextPassage(
            1,
            "[Transcripción › Arranque de la web]\n[00:40] Nerea: El presupuesto de la propuesta son catorce "
            "mil seiscientos euros más IVA.\n[00:52] Manolo: Vale, eso lo tenemos claro.",
            meeting="m1",
            when="2026-10-07T09:00:00+00:00",
        ),
        ContextPassage(
            2,
            "[Transcripción › Seguimiento de la web]\n[05:06] Nerea: El francés son mil trescientos euros "
            "más: la traducción de toda la web.\n[05:14] Manolo: ¿Mil trescientos? Bueno, adelante.\n"
            "[05:19] Nerea: Entonces el total pasa de catorce mil seiscientos a quince mil novecientos euros "
            "más IVA.\n[05:26] Manolo: 15.900. Vale, lo aprobamos.",
            meeting="m2",
            when="2026-11-05T09:00:00+00:00",
        ),
    ]


def test_a_budget_as_it_stands_is_the_latest_meetings_sum() -> None:
    """ "presupuesto actual de la web": the kick-off's figure shares the question's words, the review's new
    total shares none of them; the answer quotes the review's sum as well. A question about a price that
    is no budget ("¿Cuánto cuesta el francés?") is not held to the sum."""
    answer = extractive_answer("presupuesto actual de la web", _budget_meetings())
    assert "quince mil novecientos euros más IVA [2]" in answer, answer
    assert "catorce mil seiscientos euros más IVA [1]" in answer, answer
    assert answerers.Asked.of("¿Cuánto cuesta la guía con todos los cambios?").total
    assert answerers.Asked.of("¿Cuánto cuesta la app después de los cambios?").total
    assert answerers.Asked.of("cuanto cuesta la web tras los cambios").total
    assert "quince mil novecientos" in extractive_answer(
        "¿Cuánto cuesta la web después de los cambios?", _budget_meetings()
    )
    assert answerers.Asked.of("¿Cuál es el presupuesto al final?").total
    assert not answerers.Asked.of("¿Cuánto cuesta el francés?").total
    assert not answerers.Asked.of("¿Quién aprueba el presupuesto?").total
    assert "quince mil novecientos" not in extractive_answer("¿Cuánto cuesta el francés?", _budget_meetings())


def test_what_sums_up_a_budget() -> None:
    """A figure in the thousands summed up, or agreed to; not any sentence with a figure."""
    sums = [
        "[05:19] Nerea: Entonces el total pasa de catorce mil seiscientos a quince mil novecientos euros.",
        "Maite: Entonces: catorce mil trescientos, más mil cien del regalo, menos setecientos del boletín.",
        "Con el 3D y sin blog, el total queda en dieciocho mil doscientos euros más IVA.",
        "[03:21] Koldo: 14.700. Vale.",
        "So the total comes to 21,300 euros.",
        "Y yo, mañana el presupuesto nuevo de siete mil quinientos setenta.",
    ]
    others = [
        "La nave tiene ochocientos cincuenta metros y la exposición, doscientos.",
        "Pero si los precios cambian en marzo, tenemos dos mil catálogos con precios viejos.",
        "Entonces nos vemos el martes.",
        "[02:00] Ana: 2026. Vale.",
    ]
    assert all(answerers.states_total(s) for s in sums), [s for s in sums if not answerers.states_total(s)]
    wrong = [s for s in others if answerers.states_total(s)]
    assert not wrong, wrong


def test_the_latest_meetings_sum_wins_over_an_earlier_one() -> None:
    """Two meetings each summed the budget up: the later one's sum is quoted, not the earlier one's again."""
    passages = [
        replace(
            _budget_meetings()[0],
            text="[Transcripción › Arranque de la web]\n[00:40] Nerea: El presupuesto: la web son doce mil, "
            "más dos mil seiscientos del blog. En total, catorce mil seiscientos euros.",
        ),
        _budget_meetings()[1],
    ]
    answer = extractive_answer("¿Cuál es el presupuesto actual?", passages)
    assert "quince mil novecientos" in answer or "15.900" in answer, answer


def test_the_sum_answers_for_what_the_headings_name_not_for_a_thing_said_in_passing() -> None:
    """ "¿Cuánto cuesta la campaña con todos los cambios?": the kick-off mentions a campaign and gives no
    price for it; the web's sum is no answer. The same question about the web, which the meetings' titles
    name, is answered by the sum."""
    passages = _budget_meetings()
    passages[0] = replace(
        passages[0], text=passages[0].text + "\n[01:10] Manolo: Y la campaña de Navidad la vemos otro día."
    )
    asked = "¿Cuánto cuesta {} con todos los cambios?"
    assert extractive_answer(asked.format("la campaña"), passages) == ""
    answer = extractive_answer(asked.format("la web"), passages)
    assert "quince mil novecientos" in answer, answer


def test_a_further_sentence_adds_to_an_answer_and_never_makes_one(monkeypatch: Any) -> None:
    """Up to MAX_SENTENCES close to the best are quoted; only the first ANSWER_SENTENCES may make the answer:
    with none allowed to, the further ones alone make none."""
    passages = [
        ContextPassage(
            1,
            "[Documento › Oferta]\nEl hosting cuesta 25 euros al mes. El dominio cuesta 12 euros al año. "
            "El correo cuesta 3 euros al mes. El soporte cuesta 40 euros al mes.",
        )
    ]
    question = "¿Cuánto cuesta el hosting, el dominio, el correo y el soporte?"
    assert len(re.findall(r"\[\d\]", extractive_answer(question, passages))) == 4
    monkeypatch.setattr(answerers, "ANSWER_SENTENCES", 0)
    assert extractive_answer(question, passages) == ""


def test_a_sum_is_quoted_with_its_result() -> None:
    """ "Pues: doce mil ochocientos, más…, menos setecientos. Trece mil quinientos cincuenta.": the result is
    the sum's next sentence; where the sum ends in no figure, the next turn that says it back gives it, or
    the figure of one of the next two turns (a sum said wrong and put right by someone else)."""
    kickoff, review = _budget_meetings()
    header = "[Transcripción › Seguimiento de la web]\n"
    turns = {
        "Trece mil quinientos cincuenta [2]": "[05:06] Nerea: El panel son mil cuatrocientos cincuenta más.\n"
        "[05:19] Margalida: Pues: doce mil ochocientos, más mil cuatrocientos cincuenta del panel, menos "
        "setecientos de la tienda. Trece mil quinientos cincuenta.\n[05:26] Jaume: Vale.",
        "13.550 [2]": "[05:19] Margalida: Pues: doce mil ochocientos, más mil cuatrocientos cincuenta, menos "
        "setecientos de la tienda.\n[05:26] Jaume: 13.550. Vale.",
        "Doce mil cuatrocientos cincuenta [2]": "[05:45] Yaiza: Pues quedaría: once mil novecientos, más "
        "novecientos cincuenta, menos los cuatrocientos del blog... doce mil cuatrocientos.\n[05:58] Ayoze: "
        "Cuatrocientos cincuenta. Doce mil cuatrocientos cincuenta.\n[06:03] Yaiza: Eso, perdón.",
    }
    for result, text in turns.items():
        revised = replace(review, text=header + text)
        answer = extractive_answer("presupuesto actual de la web", [kickoff, revised])
        assert result in answer, answer


def test_what_a_change_changed_to_is_quoted_after_it() -> None:
    """The review says the name no longer holds and, two sentences on, what it is now; a "which" question
    quotes the new name. A question that asks for no kind of thing quotes no continuation."""
    passages = [
        ContextPassage(
            1,
            "[Transcripción › Arranque de la gira]\n[08:10] Rocío: El nuevo espectáculo se llama Vientos de "
            "papel, y lo estrenamos en marzo.",
            meeting="m1",
            when="2026-10-21T09:00:00+00:00",
        ),
        ContextPassage(
            2,
            "[Transcripción › Seguimiento de la gira]\n[03:02] Rocío: El espectáculo nuevo ya no se llama "
            "Vientos de papel. Hicimos el pase con dos colegios y todos decían «la de los pájaros».\n"
            "[03:30] Rocío: Así que se llama Pájaros de papel.\n[03:41] Biel: Lo cambio en las fichas.",
            meeting="m2",
            when="2026-11-24T09:00:00+00:00",
        ),
    ]
    answer = extractive_answer("¿Qué nombre tiene el espectáculo nuevo?", passages)
    assert "Pájaros de papel [2]" in answer, answer
    assert answerers._after_the_change([], answerers._sentences(passages), answerers.Asked.of("¿Y?")) == []


def test_a_commission_or_a_fee_is_asked_as_a_price_and_a_share_is_one() -> None:
    """ "¿Qué comisión se lleva…?" asks for money (or a share of it), like "¿Cuánto cuesta…?"."""
    said = [
        ContextPassage(
            1,
            "[Transcripción › Reservas]\n[03:10] Toni: Ahí vendemos el kayak, y GetYourGuide se lleva una "
            "comisión que duele por cada reserva.",
        )
    ]
    assert extractive_answer("¿Qué comisión se lleva GetYourGuide por cada reserva?", said) == ""
    assert extractive_answer("que cache cobra la compañía por cada función", said) == ""
    share = [*said, ContextPassage(2, "[Documento › Canales]\nGetYourGuide se lleva un 25 % por reserva.")]
    answer = extractive_answer("¿Qué comisión se lleva GetYourGuide por cada reserva?", share)
    assert "un 25 % por reserva [2]" in answer
    spoken = [*said, ContextPassage(2, "[Documento › Canales]\nGetYourGuide se queda el veinte por ciento.")]
    assert "veinte por ciento [2]" in extractive_answer("¿Qué comisión se lleva GetYourGuide?", spoken)
    # Only a commission or a percentage is answered by a share: a price is not "un 40 % a la firma".
    terms = [
        ContextPassage(
            1, "[Documento › Pagos de la web]\nLa web se paga un 40 % a la firma y el resto al lanzarla."
        )
    ]
    assert extractive_answer("¿Cuánto cuesta la web?", terms) == ""


def test_a_colour_a_brand_or_one_of_the_offered_choices_must_be_named() -> None:
    """ "¿De qué color…?" is not answered by "la paleta de color por cerveza", "¿Qué marca…?" by "de todo",
    nor "…, rojo o verde?" by a sentence that says neither; a sentence that names one is preferred."""
    talk = [
        ContextPassage(
            1,
            "[Transcripción › Diseño de las latas]\n[05:00] Koldo: Queremos una paleta de color por cerveza "
            "para la lata de la Orhi.\n[05:20] Ane: La caja regalo lleva tres cuñas y un mojo de la casa.\n"
            "[05:40] Marcos: Los escáneres de las clínicas, uf, de todo, cada clínica tiene el suyo.",
        )
    ]
    assert extractive_answer("¿De qué color va a ser la lata de la Orhi?", talk) == ""
    assert extractive_answer("que mojo lleva la caja regalo, rojo o verde", talk) == ""
    assert extractive_answer("¿De qué marca son los escáneres de las clínicas?", talk) == ""
    named = [
        *talk,
        ContextPassage(
            2,
            "[Transcripción › Cierre]\n[09:00] Koldo: La lata de la Orhi, al final, va en granate.\n"
            "[09:10] Ane: Y el mojo de la caja regalo es el verde.\n"
            "[09:20] Marcos: Casi todos los escáneres de las clínicas son de Medit.",
        ),
    ]
    assert "granate [2]" in extractive_answer("¿De qué color va a ser la lata de la Orhi?", named)
    assert "el verde [2]" in extractive_answer("que mojo lleva la caja regalo, rojo o verde", named)
    assert "Medit [2]" in extractive_answer("¿De qué marca son los escáneres de las clínicas?", named)


def test_what_a_named_party_charges_is_said_of_that_party() -> None:
    """ "¿Qué comisión cobra Cajasiete…?" is not answered by the agency's own line for the same work; a
    reply to a turn that names the party is said of it."""
    agency = [
        ContextPassage(
            1, "[Documento › Propuesta]\nPago con tarjeta en la tienda: conexión con el TPV, 1.100 €."
        )
    ]
    question = "¿Qué comisión cobra Cajasiete por cada pago con tarjeta?"
    assert extractive_answer(question, agency) == ""
    asked = [
        *agency,
        ContextPassage(
            2,
            "[Transcripción › Pagos]\n[02:00] Ayoze: ¿Y Cajasiete cuánto cobra por cada pago con tarjeta?\n"
            "[02:10] Sebastián: Un 0,5 % por cada pago con tarjeta, nos dijeron.",
        ),
    ]
    assert "Un 0,5 % por cada pago con tarjeta" in extractive_answer(question, asked)


def test_cents_and_a_rate_are_money() -> None:
    """ "La etiqueta nos sale a siete céntimos la lata" gives a price, and so does "treinta al mes"."""
    said = [
        ContextPassage(
            1,
            "[Transcripción › Latas]\n[03:12] Patxi: La etiqueta nos sale a siete céntimos la lata con Ega.",
        )
    ]
    assert "siete céntimos la lata" in extractive_answer("cuanto cuesta la etiqueta por lata", said)
    # Said as a rate, a price needs no currency: "Treinta al mes, en un servidor en Madrid".
    rate = [
        ContextPassage(1, "[Transcripción › Web]\n[04:00] Toni: El alojamiento, treinta al mes, en Madrid.")
    ]
    assert "treinta al mes" in extractive_answer("cuanto cuesta el alojamiento de la web", rate)
    # …but a rate is no budget's total: "presupuesto de la web" is not answered by what hosting costs a month.
    assert answerers.Asked.of("cuanto cuesta el alojamiento").held_by("El alojamiento, treinta al mes.")
    assert not answerers.Asked.of("presupuesto de la web").held_by("El alojamiento, treinta al mes.")
