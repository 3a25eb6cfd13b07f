"""Real office files made on the spot, for the conversion tests and bench/convert.py.

Each sample is an agency's document in Spanish with the structure people give them: headings, lists and
tables in a proposal (PDF, DOCX), sheets of a budget (XLSX), slides of a pitch (PPTX). The makers need
the dev dependencies (fpdf2, python-docx, openpyxl, python-pptx; msoffcrypto-tool for encrypted OOXML).
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

PARAGRAPH = (
    "El equipo de la agencia revisará el alcance con el cliente cada semana y enviará un acta con las "
    "decisiones, los riesgos y los próximos pasos. Los cambios de alcance se presupuestan aparte."
)
PHASES = [
    ("Descubrimiento", "2 semanas", "4.800 €"),
    ("Diseño", "3 semanas", "7.200 €"),
    ("Desarrollo", "6 semanas", "18.000 €"),
    ("Lanzamiento", "1 semana", "2.400 €"),
]


def section_title(page: int) -> str:
    return f"Sección {page}: {['Alcance', 'Presupuesto', 'Calendario', 'Equipo', 'Riesgos'][page % 5]}"


def make_pdf(
    pages: int = 3,
    *,
    table_every: int = 2,
    marker: str = "",
    user_password: str | None = None,
    owner_password: str | None = None,
) -> bytes:
    """A proposal, one section per page: a large bold heading, paragraphs, a bulleted list and (every
    `table_every` pages) a table of phases. `marker` is written once on every page as `{marker}-p{n}`,
    so a test can find which page a chunk came from."""
    from fpdf import FPDF

    class Proposal(FPDF):
        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("Helvetica", "", 8)
            self.cell(0, 10, f"Propuesta Web Acme · página {self.page_no()}", align="C")

    pdf = Proposal(format="A4")
    pdf.core_fonts_encoding = "windows-1252"  # the built-in fonts' own encoding: it has the bullet
    pdf.set_title("Propuesta Web Acme")
    if user_password is not None or owner_password is not None:
        from fpdf.enums import EncryptionMethod

        pdf.set_encryption(
            owner_password=owner_password or "owner-secret",
            user_password=user_password,
            encryption_method=EncryptionMethod.AES_128,
        )
    for page in range(1, pages + 1):
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 18)
        pdf.multi_cell(0, 10, section_title(page), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
        pdf.set_font("Helvetica", "", 11)
        tag = f" Referencia {marker}-p{page}." if marker else ""
        for text in (PARAGRAPH + tag, PARAGRAPH, PARAGRAPH):
            pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
        for item in ("Reunión semanal de seguimiento", "Entrega de prototipos", "Pruebas con usuarios"):
            pdf.multi_cell(0, 6, f"\u2022 {item}", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
        if table_every and page % table_every == 0:
            pdf.set_font("Helvetica", "", 10)
            with pdf.table(col_widths=(60, 50, 50)) as table:
                for row in [("Fase", "Duración", "Importe"), *PHASES]:
                    cells = table.row()
                    for value in row:
                        cells.cell(value)
    return bytes(pdf.output())


def make_scanned_pdf(pages: int = 2) -> bytes:
    """A PDF whose pages are pictures of text (what a scanner makes): no text layer at all."""
    from fpdf import FPDF
    from PIL import Image, ImageDraw

    image = Image.new("L", (800, 1000), 255)
    draw = ImageDraw.Draw(image)
    for line in range(30):
        draw.text((40, 40 + line * 30), "Contrato de servicios - cláusula escaneada", fill=0)
    picture = io.BytesIO()
    image.save(picture, format="PNG")
    pdf = FPDF(format="A4")
    for _ in range(pages):
        pdf.add_page()
        pdf.image(io.BytesIO(picture.getvalue()), x=0, y=0, w=210)
    return bytes(pdf.output())


def make_docx(*, sections: int = 3, marker: str = "") -> bytes:
    """A brief: a title, Heading 1/2 sections with paragraphs, a bulleted and a numbered list, a table."""
    from docx import Document

    document = Document()
    document.add_heading("Briefing Web Acme", level=0)
    for number in range(1, sections + 1):
        document.add_heading(f"Objetivos {number}", level=1)
        document.add_paragraph(f"{PARAGRAPH} {marker}-s{number}" if marker else PARAGRAPH)
        document.add_heading(f"Entregables {number}", level=2)
        for item in ("Mapa del sitio", "Prototipo navegable", "Guía de estilo"):
            document.add_paragraph(item, style="List Bullet")
        for item in ("Aprobar el alcance", "Firmar el contrato"):
            document.add_paragraph(item, style="List Number")
        table = document.add_table(rows=1, cols=3)
        for cell, text in zip(table.rows[0].cells, ("Fase", "Duración", "Importe"), strict=True):
            cell.text = text
        for phase in PHASES:
            for cell, text in zip(table.add_row().cells, phase, strict=True):
                cell.text = text
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_xlsx(*, rows: int = 40, marker: str = "") -> bytes:
    """A budget workbook of three sheets: Presupuesto, Calendario, Equipo."""
    from openpyxl import Workbook

    workbook = Workbook()
    budget = workbook.active
    assert budget is not None
    budget.title = "Presupuesto"
    budget.append(["Concepto", "Horas", "Tarifa", "Importe"])
    for row in range(1, rows + 1):
        budget.append([f"Tarea {row} {marker}".strip(), row % 9 + 1, 60, (row % 9 + 1) * 60])
    calendar = workbook.create_sheet("Calendario")
    calendar.append(["Fase", "Duración", "Importe"])
    for phase in PHASES:
        calendar.append(list(phase))
    team = workbook.create_sheet("Equipo")
    team.append(["Persona", "Rol", "Dedicación"])
    for name, role, share in (("Ana", "Dirección", 0.5), ("Luis", "Diseño", 1.0), ("Marta", "Desarrollo", 1)):
        team.append([name, role, share])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def make_pptx(*, slides: int = 6, marker: str = "") -> bytes:
    """A pitch: a title slide, bulleted slides, and one slide with a table."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    title = deck.slides.add_slide(deck.slide_layouts[0])
    title.shapes.title.text = "Propuesta Web Acme"
    title.placeholders[1].text = "Agencia V1tr0"
    for number in range(2, slides):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = f"Punto {number}"
        body = slide.placeholders[1].text_frame
        body.text = f"{PARAGRAPH} {marker}-s{number}" if marker else PARAGRAPH
        for item in ("Reunión semanal", "Prototipo navegable"):
            body.add_paragraph().text = item
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "Calendario"
    shape = slide.shapes.add_table(len(PHASES) + 1, 3, Inches(0.5), Inches(1.5), Inches(9), Inches(3))
    for column, text in enumerate(("Fase", "Duración", "Importe")):
        shape.table.cell(0, column).text = text
    for row, phase in enumerate(PHASES, start=1):
        for column, text in enumerate(phase):
            shape.table.cell(row, column).text = text
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def encrypt_ooxml(data: bytes, password: str = "secreto") -> bytes:  # noqa: S107
    """The file as Office saves it with a password: an OLE2 container holding the encrypted package."""
    import msoffcrypto.format.ooxml

    out = io.BytesIO()
    msoffcrypto.format.ooxml.OOXMLFile(io.BytesIO(data)).encrypt(password, out)
    return out.getvalue()


def zip_bomb(*, entry_bytes: int, entries: int = 1, base: bytes | None = None) -> bytes:
    """A DOCX-looking zip with `entries` members of `entry_bytes` zeros each (a few KB compressed).
    With `base`, the members are added to that real document."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        if base is not None:
            with zipfile.ZipFile(io.BytesIO(base)) as source:
                for info in source.infolist():
                    archive.writestr(info, source.read(info))
        else:
            archive.writestr("[Content_Types].xml", CONTENT_TYPES_DOCX)
            archive.writestr("word/document.xml", "<w:document/>")
        chunk = b"\0" * min(entry_bytes, 1 << 20)
        for number in range(entries):
            with archive.open(f"word/media/padding{number}.bin", "w", force_zip64=True) as member:
                left = entry_bytes
                while left > 0:
                    member.write(chunk[: min(left, len(chunk))])
                    left -= len(chunk)
    return out.getvalue()


CONTENT_TYPES_DOCX = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    'content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.wordprocessingml.document.main+xml"/></Types>'
)

SAMPLE_MAKERS: dict[str, Any] = {
    "pdf": make_pdf,
    "docx": make_docx,
    "xlsx": make_xlsx,
    "pptx": make_pptx,
}
