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


def test_the_bounds_on_members_and_text_hold(tmp_path: Path) -> None:
    """Issue 10, item 5: a .docx of many parts and a file with more text than the bound are refused whole."""
    import zipfile

    from assistant.knowledge.loaders import MAX_DOCX_MEMBERS, MAX_TEXT_CHARS

    parts = tmp_path / "teile.docx"
    with zipfile.ZipFile(parts, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
        for number in range(MAX_DOCX_MEMBERS):
            archive.writestr(f"m/{number}", b"")
    with pytest.raises(LoaderError, match=f"zu viele Teile \\({MAX_DOCX_MEMBERS + 1}, höchstens"):
        load(parts)
    sentence = "Der Versand nach Österreich kostet 5,90 €. "
    long = tmp_path / "lang.md"
    long.write_text("# Lang\n\n" + sentence * (MAX_TEXT_CHARS // len(sentence) + 10), encoding="utf-8")
    with pytest.raises(LoaderError, match="zu viel Text"):
        load(long)
    long.write_text("# Lang\n\n" + sentence * (MAX_TEXT_CHARS // len(sentence) - 10), encoding="utf-8")
    assert load(long).sections  # just within the bound


def test_chunks_are_bounded_and_ids_stable(tmp_path: Path) -> None:
    path = tmp_path / "lang.md"
    path.write_text("# Lang\n\n" + " ".join(f"Satz Nummer {i} über Pfannen." for i in range(200)), encoding="utf-8")
    first = chunk_document("lang.md", load(path))
    again = chunk_document("lang.md", load(path))
    assert len(first) > 3
    assert all(len(c.text) <= 500 for c in first)
    assert [c.chunk_id for c in first] == [c.chunk_id for c in again]


def _hostile_pdf(path: Path, operators: int, pages: int = 1, form_draws: int = 0) -> None:
    """A small PDF whose Flate-compressed page content expands to `operators` text operators, drawn on
    `pages` pages that share the one stream – or, with `form_draws`, a form XObject holding them drawn that
    many times."""
    from pypdf import PdfWriter
    from pypdf.generic import ArrayObject, DecodedStreamObject, DictionaryObject, NameObject, NumberObject

    writer = PdfWriter()
    font = writer._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica")}))
    text = b"BT /F1 12 Tf " + b"(x) Tj " * operators + b"ET"
    resources = DictionaryObject({NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
    if form_draws:
        form = DecodedStreamObject()
        form.set_data(text)
        form.update({NameObject("/Type"): NameObject("/XObject"), NameObject("/Subtype"): NameObject("/Form"),
                     NameObject("/BBox"): ArrayObject([NumberObject(0)] * 2 + [NumberObject(200)] * 2),
                     NameObject("/Resources"): resources})
        resources = DictionaryObject({**resources, NameObject("/XObject"): DictionaryObject(
            {NameObject("/X"): writer._add_object(form.flate_encode())})})
        text = b"/X Do " * form_draws
    content = DecodedStreamObject()
    content.set_data(text)
    shared = writer._add_object(content.flate_encode())
    for _ in range(pages):
        page = writer.add_blank_page(200, 200)
        page[NameObject("/Resources")] = resources
        page[NameObject("/Contents")] = shared
    with path.open("wb") as handle:
        writer.write(handle)


@pytest.mark.parametrize(("operators", "pages", "form_draws"), [
    (600_000, 1, 0),  # one page, 4 MB of `(x) Tj` in a 10 KB file
    (100_000, 500, 0),  # 500 pages drawing one 700 KB stream
    (100_000, 1, 1000),  # one page drawing a form of 700 KB a thousand times
])
def test_a_pdf_whose_content_blows_up_is_refused_in_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, operators: int, pages: int, form_draws: int,
) -> None:
    """Issue 10, item 5: the text extraction runs in a child process with a CPU-time, memory and wall-clock
    limit, so a hostile PDF costs its budget (here 2 s of CPU), not minutes to hours, and is refused in German."""
    import time

    from assistant.knowledge import loaders

    path = tmp_path / "bombe.pdf"
    _hostile_pdf(path, operators, pages, form_draws)
    assert path.stat().st_size < 100_000  # kilobytes, not megabytes
    monkeypatch.setattr(loaders, "PDF_CPU_SECONDS", 2)
    started = time.monotonic()
    with pytest.raises(LoaderError, match="PDF ist zu aufwendig zu lesen: der Text ließ sich nicht mit 2 s "
                                          "Rechenzeit und 1024 MB Speicher auslesen"):
        load(path)
    assert time.monotonic() - started < 8
    monkeypatch.setattr(loaders, "PDF_WALL_SECONDS", 1)  # the wall clock catches a child that sleeps or waits
    monkeypatch.setattr(loaders, "PDF_CPU_SECONDS", 100)
    started = time.monotonic()
    with pytest.raises(LoaderError, match="zu aufwendig.*nach 1 s abgebrochen"):
        load(path)
    assert time.monotonic() - started < 5


def test_a_small_pdf_still_loads_in_the_child_and_the_demo_pdfs_are_unchanged(tmp_path: Path) -> None:
    from assistant.config import PROJECT_ROOT
    from assistant.knowledge.loaders import MAX_TEXT_CHARS, _parse_pdf

    path = tmp_path / "klein.pdf"
    _hostile_pdf(path, 2000)
    doc = load(path)
    assert [s.page for s in doc.sections] == [1] and doc.sections[0].text.count("x") == 2000
    demo = sorted((PROJECT_ROOT / "knowledge").glob("*.pdf"))
    assert demo
    for pdf in demo:  # the child gives exactly what parsing in this process gives
        here = _parse_pdf(pdf, MAX_TEXT_CHARS)
        assert load(pdf) == type(here)(here.title, [s for s in here.sections if s.text.strip()])


def test_a_long_pdf_gets_a_share_of_cpu_time_per_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading the layout (pdfplumber) costs ~0.07 s of CPU per text page, so a 300-page manual would have been
    refused as a content bomb with the flat budget; the child raises its budget by the page count it read first."""
    from reportlab.pdfgen import canvas

    from assistant.knowledge import loaders

    path = tmp_path / "handbuch.pdf"
    pdf = canvas.Canvas(str(path))
    for page in range(80):
        for line in range(60):
            pdf.drawString(40, 800 - 12 * line, f"Seite {page} Zeile {line}: Die Pfanne wird langsam aufgeheizt.")
        pdf.showPage()
    pdf.save()
    monkeypatch.setattr(loaders, "PDF_CPU_SECONDS", 1)
    monkeypatch.setattr(loaders, "PDF_PAGE_SHARE", 10_000)  # practically no share per page: the flat 1 s
    with pytest.raises(LoaderError, match="zu aufwendig"):
        load(path)
    monkeypatch.setattr(loaders, "PDF_PAGE_SHARE", 4)  # 1 s + 1 s per 4 pages
    doc = load(path)
    assert len(doc.sections) == 80 and "Seite 79 Zeile 59" in doc.sections[-1].text
