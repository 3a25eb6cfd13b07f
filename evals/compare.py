"""Comparing two runs: metric deltas side by side, what differs between the runs, the questions that changed
most; as text for the terminal and as a self-contained HTML report with plots (matplotlib)."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.models import EvalItem, EvalRun
from evals.metrics import is_number

# Which per-question metric ranks "changed most", by preference.
PRIMARY_METRICS = (
    "ndcg@10",
    "semantic_similarity",
    "string_similarity",
    "faithfulness",
    "key_term_recall",
    "context_recall",
    "span_recall",
)
RUN_FIELDS = (
    "kind",
    "dataset_name",
    "dataset_hash",
    "split",
    "prompt_name",
    "prompt_version",
    "provider",
    "model",
    "embedding_model",
    "git_commit",
    "status",
)
LOWER_IS_BETTER = ("latency",)


def lower_is_better(metric: str) -> bool:
    return metric.startswith(LOWER_IS_BETTER)


@dataclass(frozen=True)
class MetricRow:
    name: str
    a: float | None
    b: float | None

    @property
    def delta(self) -> float | None:
        return self.b - self.a if self.a is not None and self.b is not None else None


@dataclass(frozen=True)
class ItemChange:
    key: str
    question: str
    a: float
    b: float
    answer_a: str | None
    answer_b: str | None
    reference: str | None

    @property
    def delta(self) -> float:
        return self.b - self.a


@dataclass
class Comparison:
    a: EvalRun
    b: EvalRun
    metrics: list[MetricRow]
    differences: list[tuple[str, str, str]]
    primary: str | None
    changed: list[ItemChange]
    pairs: list[tuple[float, float]]  # the primary metric per shared question (A, B)
    latencies: tuple[list[float], list[float]]
    shared_items: int

    @property
    def same_data(self) -> bool:
        return self.a.dataset_hash == self.b.dataset_hash


def _number(value: Any) -> float | None:
    return float(value) if is_number(value) else None


def _text(value: Any) -> str:
    return "—" if value is None or value == "" else str(value)


def build_comparison(
    a: EvalRun, items_a: Sequence[EvalItem], b: EvalRun, items_b: Sequence[EvalItem], *, top: int = 10
) -> Comparison:
    names = sorted(set(a.metrics) | set(b.metrics), key=lambda n: (lower_is_better(n), n))
    rows = [MetricRow(n, _number(a.metrics.get(n)), _number(b.metrics.get(n))) for n in names]
    differences = []
    for field in RUN_FIELDS:
        left, right = getattr(a, field), getattr(b, field)
        if left != right or field in {"prompt_version", "dataset_name"}:
            differences.append((field, _text(left), _text(right)))
    for key in sorted(set(a.settings) | set(b.settings)):
        left, right = a.settings.get(key), b.settings.get(key)
        if left != right or key == "mode":
            differences.append((f"settings.{key}", _text(left), _text(right)))
    by_key_b = {item.item_key: item for item in items_b}
    shared = [(item, by_key_b[item.item_key]) for item in items_a if item.item_key in by_key_b]
    primary = next(
        (m for m in PRIMARY_METRICS if any(_number(x.metrics.get(m)) is not None for x, _ in shared)), None
    )
    changes: list[ItemChange] = []
    pairs: list[tuple[float, float]] = []
    for left, right in shared:
        va, vb = (
            _number(left.metrics.get(primary)) if primary else None,
            (_number(right.metrics.get(primary)) if primary else None),
        )
        if va is None or vb is None:
            continue
        pairs.append((va, vb))
        changes.append(
            ItemChange(left.item_key, left.question, va, vb, left.answer, right.answer, left.reference_answer)
        )
    changes.sort(key=lambda change: (-abs(change.delta), change.key))
    latencies = (
        [item.latency_ms for item in items_a if item.latency_ms is not None],
        [item.latency_ms for item in items_b if item.latency_ms is not None],
    )
    changed = [change for change in changes if change.delta != 0][:top]
    return Comparison(a, b, rows, differences, primary, changed, pairs, latencies, len(shared))


COUNTS = ("questions", "judge_errors")


def _fmt(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _fmt_metric(row: MetricRow, value: float | None) -> str:
    return _fmt(value, 0 if row.name in COUNTS else 4)


def _fmt_delta(row: MetricRow) -> str:
    if row.delta is None:
        return "—"
    better = (row.delta < 0) if lower_is_better(row.name) else (row.delta > 0)
    mark = "" if row.delta == 0 else (" better" if better else " worse")
    return f"{row.delta:+.4f}{mark}"


def _clip(text: str | None, width: int) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def format_text(comparison: Comparison) -> str:
    a, b = comparison.a, comparison.b
    lines = [f"A = {a.id}  ({a.kind}, {a.dataset_name}, {a.created_at:%Y-%m-%d %H:%M})"]
    lines.append(f"B = {b.id}  ({b.kind}, {b.dataset_name}, {b.created_at:%Y-%m-%d %H:%M})")
    if not comparison.same_data:
        lines.append(
            "WARNING: the runs used different data (dataset hash differs); deltas mix data and changes"
        )
    lines.append("")
    width = max([len(name) for name, _, _ in comparison.differences] + [8])
    lines.append(f"{'':<{width}}  {'A':<44}  B")
    for name, left, right in comparison.differences:
        lines.append(f"{name:<{width}}  {_clip(left, 44):<44}  {_clip(right, 44)}")
    lines.append("")
    width = max([len(row.name) for row in comparison.metrics] + [6])
    lines.append(f"{'metric':<{width}}  {'A':>10}  {'B':>10}  delta")
    lines.append("-" * (width + 38))
    for row in comparison.metrics:
        left, right = _fmt_metric(row, row.a), _fmt_metric(row, row.b)
        lines.append(f"{row.name:<{width}}  {left:>10}  {right:>10}  {_fmt_delta(row)}")
    lines.append("")
    if comparison.primary is None:
        lines.append("no per-question metric shared by both runs")
    elif not comparison.changed:
        lines.append(f"no question changed its {comparison.primary} ({comparison.shared_items} compared)")
    else:
        lines.append(
            f"questions that changed most ({comparison.primary}, {comparison.shared_items} compared):"
        )
        for change in comparison.changed:
            lines.append(
                f"  {change.delta:+.3f}  {change.a:.3f} -> {change.b:.3f}  "
                f"[{change.key}] {_clip(change.question, 70)}"
            )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------- HTML


def _figure_png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def _plots(comparison: Comparison) -> list[tuple[str, str]]:
    """(caption, base64 PNG) of each plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots: list[tuple[str, str]] = []
    scores = [
        row
        for row in comparison.metrics
        if row.a is not None and row.b is not None and 0 <= row.a <= 1 and 0 <= row.b <= 1
    ]
    if scores:
        figure, axis = plt.subplots(figsize=(max(6, len(scores) * 0.9), 3.6))
        positions = range(len(scores))
        axis.bar(
            [p - 0.2 for p in positions], [r.a or 0 for r in scores], width=0.4, label="A", color="#7a8fa6"
        )
        axis.bar(
            [p + 0.2 for p in positions], [r.b or 0 for r in scores], width=0.4, label="B", color="#d9822b"
        )
        axis.set_xticks(list(positions), [r.name for r in scores], rotation=30, ha="right")
        axis.set_ylim(0, 1)
        axis.legend()
        axis.set_title("Mean scores")
        plots.append(("Mean of each score over the questions (higher is better).", _figure_png(figure)))
        plt.close(figure)
    if comparison.pairs and comparison.primary:
        figure, axis = plt.subplots(figsize=(4.2, 4.2))
        xs, ys = zip(*comparison.pairs, strict=True)
        low, high = min(min(xs), min(ys), 0.0), max(max(xs), max(ys), 1.0)
        axis.plot([low, high], [low, high], color="#999999", linewidth=1)
        axis.scatter(xs, ys, s=14, alpha=0.6, color="#d9822b")
        axis.set_xlabel(f"A {comparison.primary}")
        axis.set_ylabel(f"B {comparison.primary}")
        axis.set_title("Per question")
        plots.append(
            (
                f"Each question's {comparison.primary} in A and B: above the diagonal, B did better.",
                _figure_png(figure),
            )
        )
        plt.close(figure)
    latencies_a, latencies_b = comparison.latencies
    if latencies_a and latencies_b:
        figure, axis = plt.subplots(figsize=(6, 3))
        axis.boxplot([latencies_a, latencies_b], orientation="horizontal")
        axis.set_yticks([1, 2], ["A", "B"])
        axis.set_xlabel("ms per question")
        axis.set_title("Latency")
        plots.append(("Time per question (retrieval, and generation for answer runs).", _figure_png(figure)))
        plt.close(figure)
    return plots


STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:70rem;color:#222;line-height:1.4}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ddd;padding:.3rem .6rem;text-align:left;
vertical-align:top}th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
.better{color:#1a7f37}.worse{color:#c62828}.warn{background:#fff3cd;padding:.6rem;border:1px solid #e0c36a}
figure{margin:1rem 0}figcaption{color:#555;font-size:.9rem}details{margin:.2rem 0}code{font-size:.85rem}
"""


def _delta_cell(row: MetricRow) -> str:
    if row.delta is None:
        return '<td class="num">—</td>'
    better = (row.delta < 0) if lower_is_better(row.name) else (row.delta > 0)
    css = "" if row.delta == 0 else ("better" if better else "worse")
    return f'<td class="num {css}">{row.delta:+.4f}</td>'


def render_html(comparison: Comparison) -> str:
    a, b = comparison.a, comparison.b
    esc = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Eval comparison {str(a.id)[:8]} vs {str(b.id)[:8]}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Eval comparison: {esc(a.dataset_name)}</h1>",
        f"<p>A = <code>{a.id}</code> ({esc(a.kind)}, {a.created_at:%Y-%m-%d %H:%M} UTC)<br>"
        f"B = <code>{b.id}</code> ({esc(b.kind)}, {b.created_at:%Y-%m-%d %H:%M} UTC)</p>",
    ]
    if not comparison.same_data:
        parts.append("<p class='warn'>The runs used different data (dataset hash differs).</p>")
    parts.append("<h2>What differs</h2><table><tr><th></th><th>A</th><th>B</th></tr>")
    for name, left, right in comparison.differences:
        parts.append(f"<tr><th>{esc(name)}</th><td>{esc(left)}</td><td>{esc(right)}</td></tr>")
    parts.append("</table><h2>Metrics</h2><table><tr><th>metric</th><th>A</th><th>B</th><th>delta</th></tr>")
    for row in comparison.metrics:
        parts.append(
            f"<tr><th>{esc(row.name)}</th><td class='num'>{_fmt_metric(row, row.a)}</td>"
            f"<td class='num'>{_fmt_metric(row, row.b)}</td>"
            f"{_delta_cell(row)}</tr>"
        )
    parts.append("</table>")
    for caption, png in _plots(comparison):
        parts.append(
            f"<figure><img alt='{esc(caption)}' src='data:image/png;base64,{png}'>"
            f"<figcaption>{esc(caption)}</figcaption></figure>"
        )
    parts.append("<h2>Questions that changed most</h2>")
    if not comparison.changed:
        measured = f" in {esc(comparison.primary)}" if comparison.primary else ""
        parts.append(f"<p>No question changed{measured} ({comparison.shared_items} compared).</p>")
    else:
        parts.append(
            f"<p>By {esc(comparison.primary or '')}, {comparison.shared_items} questions compared.</p><table>"
            "<tr><th>question</th><th>A</th><th>B</th><th>delta</th></tr>"
        )
        for change in comparison.changed:
            answers = ""
            if change.answer_a is not None or change.answer_b is not None:
                answers = (
                    f"<details><summary>answers</summary><p><b>A:</b> {esc(change.answer_a or '')}</p>"
                    f"<p><b>B:</b> {esc(change.answer_b or '')}</p>"
                    f"<p><b>Reference:</b> {esc(change.reference or '—')}</p></details>"
                )
            css = "better" if change.delta > 0 else "worse"
            parts.append(
                f"<tr><td><code>{esc(change.key)}</code> {esc(change.question)}{answers}</td>"
                f"<td class='num'>{change.a:.3f}</td><td class='num'>{change.b:.3f}</td>"
                f"<td class='num {css}'>{change.delta:+.3f}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "".join(parts)


def write_html(comparison: Comparison, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(comparison), encoding="utf-8")
