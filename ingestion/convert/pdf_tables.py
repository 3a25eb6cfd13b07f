"""Ruled tables of a PDF page: the page's straight line segments (PDFium path objects) become edges, and
pdfplumber's table geometry (snap, join, intersections, cells, tables) finds the grids; each cell's text
comes from PDFium. pdfplumber's own reader (pdfminer) is never run: it costs ~40 ms a page, this ~1 ms."""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from ingestion.convert.markdown import markdown_table

# A path with more segments than this is a drawing (a chart, a map, a logo), not a table's borders.
MAX_SEGMENTS = 400
TOLERANCE = 3.0  # points: edges this close are one line, and meet
MIN_EDGE = 3.0

Box = tuple[float, float, float, float]  # x0, top, x1, bottom: from the page's top-left corner


def _edge(x0: float, top: float, x1: float, bottom: float, orientation: str) -> dict[str, Any]:
    return {
        "x0": x0,
        "x1": x1,
        "top": top,
        "bottom": bottom,
        "doctop": top,
        "width": x1 - x0,
        "height": bottom - top,
        "orientation": orientation,
        "object_type": "line",
    }


def _segments(obj: Any) -> Iterator[tuple[tuple[float, float], tuple[float, float]]]:
    """The straight segments of a path object, in page coordinates (curves are skipped)."""
    count = pdfium_c.FPDFPath_CountSegments(obj.raw)
    if count <= 0 or count > MAX_SEGMENTS:
        return
    matrix = obj.get_matrix()
    x, y = ctypes.c_float(), ctypes.c_float()
    start: tuple[float, float] | None = None
    previous: tuple[float, float] | None = None
    for index in range(count):
        segment = pdfium_c.FPDFPath_GetPathSegment(obj.raw, index)
        if not segment or not pdfium_c.FPDFPathSegment_GetPoint(segment, x, y):
            continue
        point = matrix.on_point(x.value, y.value)
        kind = pdfium_c.FPDFPathSegment_GetType(segment)
        if kind == pdfium_c.FPDF_SEGMENT_MOVETO or previous is None:
            start = point
        elif kind == pdfium_c.FPDF_SEGMENT_LINETO:
            yield previous, point
        previous = point
        if pdfium_c.FPDFPathSegment_GetClose(segment) and start is not None:
            yield point, start
            previous = start


def _edges(page: pdfium.PdfPage, height: float) -> list[dict[str, Any]]:
    edges = []
    for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_PATH], max_depth=1):
        for (x0, y0), (x1, y1) in _segments(obj):
            if abs(y0 - y1) < 1 and abs(x0 - x1) >= MIN_EDGE:
                top = height - y0
                edges.append(_edge(min(x0, x1), top, max(x0, x1), top, "h"))
            elif abs(x0 - x1) < 1 and abs(y0 - y1) >= MIN_EDGE:
                edges.append(_edge(x0, height - max(y0, y1), x0, height - min(y0, y1), "v"))
    return edges


def _cell_text(textpage: pdfium.PdfTextPage, height: float, cell: Box | None) -> str:
    if cell is None:
        return ""
    x0, top, x1, bottom = cell
    text: str = textpage.get_text_bounded(left=x0, bottom=height - bottom, right=x1, top=height - top)
    return " ".join(text.split())


def find_tables(page: pdfium.PdfPage, textpage: pdfium.PdfTextPage, height: float) -> list[tuple[Box, str]]:
    """(bounding box, Markdown table) of every ruled table on the page with two rows and two columns."""
    from pdfplumber.table import (
        Table,
        cells_to_tables,
        edges_to_intersections,
        intersections_to_cells,
        merge_edges,
    )

    edges = _edges(page, height)
    if len(edges) < 4:
        return []
    merged = [
        edge
        for edge in merge_edges(edges, TOLERANCE, TOLERANCE, TOLERANCE, TOLERANCE)
        if edge["width" if edge["orientation"] == "h" else "height"] >= MIN_EDGE
    ]
    cells = intersections_to_cells(edges_to_intersections(merged, TOLERANCE, TOLERANCE))
    found = []
    for table_cells in cells_to_tables(cells):
        table = Table(None, table_cells)  # type: ignore[arg-type]  # rows and bbox read only the cells
        rows = [[_cell_text(textpage, height, cell) for cell in row.cells] for row in table.rows]
        if len(rows) >= 2 and max(len(row) for row in rows) >= 2 and any(any(row) for row in rows):
            found.append((table.bbox, markdown_table(rows)))
    return found
