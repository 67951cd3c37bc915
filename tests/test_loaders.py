from __future__ import annotations

from pathlib import Path

import pytest

from assistant.knowledge.chunking import chunk_document
from assistant.knowledge.loaders import LoaderError, load


def test_markdown_keeps_heading_path_and_turns_tables_into_row_sentences(tmp_path: Path) -> None:
    path = tmp_path / "versand.md"
    path.write_text(
        "# Versand\n\nIntro.\n\n## Kosten\n\n| Land | Preis | Dauer |\n|---|---|---|\n"
        "| Österreich | 5,90 € | 3 Tage |\n"
        "\n### Express\n\nExpress kostet 9,90 €.\n\n```\n# kein Titel\n```\n",
        encoding="utf-8",
    )
    doc = load(path)
    assert doc.title == "Versand"
    headings = [s.heading for s in doc.sections]
    assert headings == ["", "Kosten", "Kosten › Express"]
    assert "Österreich – Preis: 5,90 €; Dauer: 3 Tage." in doc.sections[1].text
    assert "# kein Titel" in doc.sections[2].text  # code fences are not headings


def test_html_drops_scripts_and_reads_tables(tmp_path: Path) -> None:
    path = tmp_path / "seite.html"
    path.write_text(
        "<html><head><title>Kontakt</title><script>alert(1)</script></head><body><h1>Kontakt</h1>"
        "<h2>Hotline</h2><p>Mo–Fr 8–18 Uhr</p><table><tr><th>Tag</th><th>Zeit</th></tr>"
        "<tr><td>Samstag</td><td>10–14 Uhr</td></tr></table></body></html>",
        encoding="utf-8",
    )
    doc = load(path)
    assert doc.title == "Kontakt"
    assert doc.sections[0].heading == "Hotline"
    assert "Samstag – Zeit: 10–14 Uhr." in doc.sections[0].text
    assert "alert" not in " ".join(s.text for s in doc.sections)


def test_pdf_pages_are_kept(tmp_path: Path) -> None:
    from reportlab.pdfgen import canvas

    path = tmp_path / "datenblatt.pdf"
    pdf = canvas.Canvas(str(path))
    for page in (1, 2, 3):
        pdf.drawString(72, 720, f"Seite {page}: Mahlwerk M2 Leistung {page * 100} Watt")
        pdf.showPage()
    pdf.save()
    doc = load(path)
    assert [s.page for s in doc.sections] == [1, 2, 3]
    chunks = chunk_document("datenblatt.pdf", doc)
    assert chunks[2].page == 3 and "300 Watt" in chunks[2].text


def test_docx_headings_and_tables_in_order(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("Garantie", level=1)
    document.add_heading("Dauer", level=2)
    document.add_paragraph("Fünf Jahre auf Gusseisen.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Produkt", "Garantie"
    table.cell(1, 0).text, table.cell(1, 1).text = "Pfanne", "5 Jahre"
    path = tmp_path / "garantie.docx"
    document.save(str(path))
    doc = load(path)
    assert doc.title == "Garantie"
    assert doc.sections[0].heading == "Dauer"
    assert "Pfanne – Garantie: 5 Jahre." in doc.sections[0].text


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("kaputt.pdf", b"%PDF-1.4 das ist kein pdf", "beschädigt"),
        ("kaputt.docx", b"PK\x03\x04 kein zip", "beschädigt"),
        ("leer.md", b"   \n", "keinen Text"),
        ("binär.txt", b"\x00\x01\x02binary", "binär"),
        ("bild.png", b"\x89PNG", "nicht unterstützt"),
    ],
)
def test_bad_files_raise_a_clear_error(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(LoaderError, match=reason):
        load(path)


def test_chunks_are_bounded_and_ids_stable(tmp_path: Path) -> None:
    path = tmp_path / "lang.md"
    path.write_text("# Lang\n\n" + " ".join(f"Satz Nummer {i} über Pfannen." for i in range(200)), encoding="utf-8")
    first = chunk_document("lang.md", load(path))
    again = chunk_document("lang.md", load(path))
    assert len(first) > 3
    assert all(len(c.text) <= 500 for c in first)
    assert [c.chunk_id for c in first] == [c.chunk_id for c in again]
