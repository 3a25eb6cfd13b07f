"""Small Markdown writers and the clean-up every converter's output goes through."""

from __future__ import annotations

import re
from collections.abc import Sequence

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def table_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return " ".join(text.replace("|", "\\|").split())


def markdown_table(rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; the first row is the header. Short rows are padded, empty columns at the right
    end are dropped."""
    cells = [[table_cell(value) for value in row] for row in rows]
    width = max((len(row) for row in cells), default=0)
    while width and not any(len(row) >= width and row[width - 1] for row in cells):
        width -= 1
    if not width:
        return ""
    cells = [row[:width] + [""] * (width - len(row)) for row in cells]
    lines = ["| " + " | ".join(cells[0]) + " |", "|" + " --- |" * width]
    lines += ["| " + " | ".join(row) + " |" for row in cells[1:]]
    return "\n".join(lines)


LIST_ITEM = re.compile(r"^(?:[-*+]|\d{1,3}[.)]|\(\d{1,3}\)|[a-z][.)])\s")


def join_blocks(blocks: Sequence[str]) -> str:
    """Blocks separated by a blank line, except consecutive list items (one list, not many)."""
    out: list[str] = []
    for block in blocks:
        if out and LIST_ITEM.match(block) and LIST_ITEM.match(out[-1].rsplit("\n", 1)[-1]):
            out[-1] += "\n" + block
        else:
            out.append(block)
    return "\n\n".join(out)


_EMPTY_HEADER = re.compile(r"^\|(?:\s*\|)+\n\|(?:\s*:?-{3,}:?\s*\|)+\n(\|.*\|)\n", re.MULTILINE)


def promote_empty_headers(markdown: str) -> str:
    """A table written with an empty header row (Word tables have no header) gets its first row as header."""

    def promote(match: re.Match[str]) -> str:
        first = match.group(1)
        separator = "|" + " --- |" * (first.count("|") - 1 - first.count("\\|"))
        return f"{first}\n{separator}\n"

    return _EMPTY_HEADER.sub(promote, markdown)


def tidy(markdown: str) -> str:
    """Unix newlines, no control characters (PostgreSQL text cannot hold NUL), no trailing spaces, at
    most one blank line in a row."""
    text = markdown.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip() + "\n" if text.strip() else ""
