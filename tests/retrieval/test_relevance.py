"""The abstention decision: features read from the retrieved chunks, and a logistic model fitted on
labelled questions that separates answerable from unanswerable ones."""

from __future__ import annotations

import uuid

import pytest

from core.models import SourceType
from retrieval.relevance import FEATURES, ProjectNames, RelevanceModel, fit, relevance_features
from retrieval.search import Hit


def hit(
    text: str,
    *,
    similarity: float | None = 0.8,
    text_rank: float | None = 0.1,
    header: str = "[Documento › Acta]",
) -> Hit:
    return Hit(
        chunk_id=1,
        project_id=uuid.uuid4(),
        source_type=SourceType.DOCUMENT,
        source_id=uuid.uuid4(),
        chunk_index=0,
        content=f"{header}\n{text}",
        meta={},
        score=0.03,
        similarity=similarity,
        text_rank=text_rank,
    )


def test_features_see_what_the_question_asks_and_the_chunks_hold() -> None:
    question = "¿Cuál es el presupuesto de la aplicación móvil?"
    about_it = relevance_features(
        question, [hit("El presupuesto de la aplicación móvil es de 32.000 euros.")]
    )
    beside_it = relevance_features(question, [hit("El presupuesto de la web es de 18.500 euros.")])
    assert set(about_it) == set(FEATURES)
    assert about_it["best_coverage"] == about_it["sentence_support"] == 1.0
    assert about_it["missing_words"] == 0
    assert beside_it["missing_words"] == 2  # "aplicación", "móvil": held by no chunk
    assert beside_it["any_coverage"] < about_it["any_coverage"]
    assert relevance_features(question, []) == {**dict.fromkeys(FEATURES, 0.0), "missing_words": 3.0}


def test_the_titles_in_a_chunks_header_count_as_words_it_holds() -> None:
    """The meeting with Brightside rarely says "Brightside": its title does. A question naming it is not
    missing that word (coverage), though no sentence holds it (support). The header's first part names the
    kind of source ("Transcripción"), which no question is about."""
    question = "What hourly rate did Brightside quote?"
    said = "Their rate is 45 euros per hour."
    titled = relevance_features(
        question, [hit(said, header="[Transcripción › Technical kick-off with Brightside Apps]")]
    )
    untitled = relevance_features(question, [hit(said, header="[Transcripción › Kick-off]")])
    assert untitled["missing_words"] - titled["missing_words"] == 1  # "brightside"
    assert titled["best_coverage"] > untitled["best_coverage"]
    assert titled["any_coverage"] > untitled["any_coverage"]
    assert titled["sentence_support"] == untitled["sentence_support"]
    label = [hit("Nada.", header="[Transcripción › Kick-off]")]
    # Both words are missing: "Transcripción" is the kind of source, not a title.
    assert relevance_features("¿Qué dice la transcripción?", label)["missing_words"] == 2


def test_support_counts_only_sentences_that_hold_what_is_asked() -> None:
    # A price is asked for: a sentence about the same treatment that gives its length is no support.
    question = "¿Cuánto cuesta una sesión de punción seca?"
    duration = relevance_features(question, [hit("La sesión de punción seca dura treinta minutos.")])
    price = relevance_features(question, [hit("La sesión de punción seca cuesta cuarenta euros.")])
    assert duration["sentence_support"] == 0.75 and duration["kind_support"] == 0.0
    assert price["kind_support"] == 1.0
    # "Who": a name; other questions take any sentence.
    who = "¿Quién es el enólogo de la bodega?"
    no_name = relevance_features(who, [hit("Sin tecnicismos de enólogo, para la bodega.")])
    assert no_name["kind_support"] == 0.0
    assert relevance_features(who, [hit("El enólogo de la bodega es Tomás Ruiz.")])["kind_support"] == 1.0
    what = "¿Qué incluye la bodega?"
    assert relevance_features(what, [hit("La bodega incluye una sala de catas.")])["kind_support"] == 1.0


def test_a_fitted_model_separates_the_two_kinds_and_round_trips() -> None:
    answerable = [
        {
            **dict.fromkeys(FEATURES, 0.0),
            "similarity": 0.85 + i / 100,
            "best_coverage": 0.8,
            "any_coverage": 0.9,
        }
        for i in range(10)
    ]
    unanswerable = [
        {**dict.fromkeys(FEATURES, 0.0), "similarity": 0.80 + i / 100, "missing_words": 2.0 + i % 2}
        for i in range(10)
    ]
    model = fit(answerable + unanswerable, [1] * 10 + [0] * 10)
    assert all(model.probability(row) > 0.5 for row in answerable)
    assert all(model.probability(row) < 0.5 for row in unanswerable)
    assert model.weights["missing_words"] < 0 < model.weights["best_coverage"]
    again = RelevanceModel.from_json(model.as_json())
    assert again.probability(answerable[0]) == pytest.approx(model.probability(answerable[0]))


def test_another_projects_title_names_it_only_by_words_this_project_does_not_use() -> None:
    """ "¿Cuánto cuesta la app?" asked in the web's project names the app's project. A word this project's
    title or description uses too (the client's name, what both projects are for) names neither."""
    web = ProjectNames(
        "Web y tienda online de Bodegas Ribalta", ("App del Club Ribalta",), "La web de la bodega."
    )
    assert web.names_another("¿Cuánto cuesta la app del club?") == 2.0
    assert web.names_another("¿Cuánto cuesta la tienda online?") == 0.0
    assert web.names_another("¿Quién es el enólogo de Ribalta?") == 0.0  # in both titles
    campaign = ProjectNames(
        "Campaña de matrícula de primavera y CRM",
        ("Portal del alumno de Academias Lumen",),
        "Campaña de captación de alumnos para los grupos de febrero de Academias Lumen.",
    )
    assert campaign.names_another("¿Cuántos alumnos por grupo como máximo tiene Lumen?") == 0.0
    assert campaign.names_another("¿Cuándo abre el portal?") == 1.0
    assert ProjectNames(campaign.own, campaign.others).names_another("¿Cuántos alumnos tiene Lumen?") == 2.0
