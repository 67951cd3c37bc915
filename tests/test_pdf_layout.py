"""A PDF read with its layout (assistant/knowledge/pdf_layout.py): headings by their type size, tables as one
line per row, the running footer left out and step numbers in a column of their own as list items.

pypdf gave one line per printed line: every page one section without a heading, a table cell per line
("Motor" / "Industriemotor, 360 Watt."), the footer "Firma GmbH · Seite 2 von 3" on every page and a step number
on a line of its own ("1" / "Stellen Sie …") – each test below fails on that reading.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.knowledge.loaders import LoadedDocument, Section, load
from assistant.knowledge.sentences import readable_row

STEPS = ["Stellen Sie die Mühle auf eine ebene Fläche.", "Füllen Sie die Bohnen in den Behälter.",
         "Wählen Sie den Mahlgrad am Drehring."]


def _manual(path: Path) -> None:
    """Three A4 pages: headings in 16 pt bold, body text in 10 pt, a spec table with a grid, numbered steps (the
    number at x=60, the text at x=75), a body line repeated mid-page on every page and the running footer
    "Firma GmbH · Seite N von 3" at the foot of each page."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas
    from reportlab.platypus import Table, TableStyle

    pdf = canvas.Canvas(str(path), pagesize=A4)
    pdf.setTitle("Kaffeemühle M2 – Anleitung")

    def heading(y: float, text: str) -> None:
        pdf.setFont("Helvetica-Bold", 16)
        pdf.drawString(72, y, text)

    def body(y: float, text: str, x: float = 72) -> None:
        pdf.setFont("Helvetica", 10)
        pdf.drawString(x, y, text)

    def end_page(number: int) -> None:
        body(400, "Alle Angaben ohne Gewähr.")  # mid-page on every page: content, not a running line
        pdf.setFont("Helvetica", 9)
        pdf.drawString(72, 30, f"Firma GmbH · Seite {number} von 3")
        pdf.showPage()

    heading(720, "1. Sicherheit")
    body(700, "Ziehen Sie vor dem Reinigen immer den Netzstecker.")
    body(686, "Das Mahlwerk darf nur im Stillstand geöffnet werden.")
    heading(650, "2. Technische Daten")
    body(630, "Die folgenden Werte gelten für das Modell M2.")
    table = Table([["Merkmal", "Wert"], ["Motor", "Industriemotor, 360 Watt."], ["Gewicht", "4,2 kg"],
                   ["Mahlgrade", "40 Stufen"]], colWidths=[150, 200])
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                               ("FONT", (0, 0), (-1, -1), "Helvetica", 10)]))
    _, height = table.wrapOn(pdf, 400, 400)
    table.drawOn(pdf, 72, 610 - height)
    end_page(1)

    body(790, "Bitte bewahren Sie diese Anleitung gut auf.")  # in the top margin, but on this page only
    body(720, "Der Bohnenbehälter fasst 500 Gramm.")  # section 2 continues on page 2
    body(706, "Das Gehäuse ist aus gebürstetem Aluminium.")
    heading(670, "3. Bedienung")
    for number, step in enumerate(STEPS, start=1):
        body(650 - 14 * number, str(number), x=60)
        body(650 - 14 * number, step, x=75)
    body(590, "12 kostenlose Parkplätze stehen im Hof.", x=60)  # a number and a plain space: not a step
    end_page(2)

    heading(720, "4. Garantie")
    body(700, "Die Garantie beträgt fünf Jahre.")
    end_page(3)
    pdf.save()


@pytest.fixture(scope="module")
def manual(tmp_path_factory: pytest.TempPathFactory) -> LoadedDocument:
    path = tmp_path_factory.mktemp("pdf") / "anleitung.pdf"
    _manual(path)
    return load(path)


def _section(doc: LoadedDocument, heading: str, page: int) -> Section:
    return next(s for s in doc.sections if s.heading == heading and s.page == page)


def _lines(doc: LoadedDocument) -> list[str]:
    return [line for s in doc.sections for line in s.text.splitlines()]


def test_headings_become_sections_and_a_section_continued_on_the_next_page_keeps_its_heading(
    manual: LoadedDocument,
) -> None:
    """A line printed ≥ 1.15× the body size is Section.heading, the lines under it are that section's text, and
    the first lines of page 2 belong to the heading of page 1 (pypdf: one section per page, heading "")."""
    assert manual.title == "Kaffeemühle M2 – Anleitung"
    assert [(s.heading, s.page) for s in manual.sections] == [
        ("1. Sicherheit", 1), ("2. Technische Daten", 1), ("2. Technische Daten", 2), ("3. Bedienung", 2),
        ("4. Garantie", 3)]
    assert _section(manual, "1. Sicherheit", 1).text.splitlines() == [
        "Ziehen Sie vor dem Reinigen immer den Netzstecker.", "Das Mahlwerk darf nur im Stillstand geöffnet werden."]
    continued = _section(manual, "2. Technische Daten", 2).text
    assert "Der Bohnenbehälter fasst 500 Gramm." in continued and "Aluminium" in continued
    assert "Bedienung" not in continued
    assert "Die Garantie beträgt fünf Jahre." in _section(manual, "4. Garantie", 3).text
    assert not any(s.heading in s.text for s in manual.sections)  # a heading is not repeated as body text


def test_a_spec_table_gives_one_line_per_row_with_its_figures(manual: LoadedDocument) -> None:
    """A grid table is one line per row, "property – header: value.", so "360 Watt" is in the line of "Motor";
    the cell's own full stop does not double the row's (pypdf: "Motor" and "Industriemotor, 360 Watt." apart)."""
    lines = _lines(manual)
    start = lines.index("Die folgenden Werte gelten für das Modell M2.")
    assert lines[start:start + 4] == ["Die folgenden Werte gelten für das Modell M2.",
                                      "Motor – Wert: Industriemotor, 360 Watt.", "Gewicht – Wert: 4,2 kg.",
                                      "Mahlgrade – Wert: 40 Stufen."]
    assert [line for line in lines if "360 Watt" in line] == ["Motor – Wert: Industriemotor, 360 Watt."]
    assert not {"Merkmal", "Wert", "Motor", "Merkmal Wert"} & set(lines)  # the header is no line of its own
    assert not any(".." in s.text or ".." in s.heading for s in manual.sections)
    assert readable_row(lines[start + 1]) == "Motor: Industriemotor, 360 Watt."  # and reads as a sentence in a letter


def test_the_running_footer_is_left_out_but_repeated_body_text_is_kept(manual: LoadedDocument) -> None:
    """The footer in the bottom tenth of every page ("Seite N von 3", digits aside) goes; a line repeated on every
    page mid-page, and a line in the top margin of one page only, stay (pypdf kept the footer on each page)."""
    everything = " ".join(f"{s.heading} {s.text}" for s in manual.sections)
    assert "Firma GmbH" not in everything and "von 3" not in everything
    kept = sorted({s.page for s in manual.sections if "Alle Angaben ohne Gewähr." in s.text.splitlines()})
    assert kept == [1, 2, 3]
    assert any("Bitte bewahren Sie diese Anleitung gut auf." in s.text for s in manual.sections if s.page == 2)


def test_numbered_steps_become_list_items_but_a_sentence_starting_with_a_number_does_not(
    manual: LoadedDocument,
) -> None:
    """A step number in a column of its own becomes "1. …" (pypdf: "1" on a line of its own, the step apart);
    "12 kostenlose Parkplätze …", set with a plain space, keeps its wording."""
    lines = _lines(manual)
    assert f"1. {STEPS[0]}" in lines
    start = lines.index(f"1. {STEPS[0]}")
    assert lines[start:start + 3] == [f"{number}. {step}" for number, step in enumerate(STEPS, start=1)]
    assert "12 kostenlose Parkplätze stehen im Hof." in lines
    assert not any(line.strip() in {"1", "2", "3", "12"} for line in _lines(manual))


@pytest.mark.parametrize(("row", "sentence"), [
    ("Motor – Wert: Industriemotor, 360 Watt.", "Motor: Industriemotor, 360 Watt."),  # "Merkmal | Wert"
    ("Gewicht – Angabe: 4,2 kg.", "Gewicht: 4,2 kg."),
    ("Pfanne – Garantie: 5 Jahre.", "Für Pfanne gilt: Garantie 5 Jahre."),  # the header names a property
    ("Österreich – Versandkosten: 5,90 €; Lieferzeit: 3–5 Werktage.",
     "Für Österreich gilt: Versandkosten 5,90 €, Lieferzeit 3–5 Werktage."),
    ("Schweiz – Versandkosten: 14,90 €; Wert: 20 €.", "Für Schweiz gilt: Versandkosten 14,90 €, Wert 20 €."),
])
def test_a_data_sheet_row_reads_as_property_and_value(row: str, sentence: str) -> None:
    """A two-column row under "Merkmal | Wert" reads "Motor: …" (before: "Für Motor gilt: Wert …"); a row of
    several columns, or of a header that names a property, reads as before."""
    assert readable_row(row) == sentence


def _pdf(path: Path, pages: list[list[tuple[float, float, str, float, bool]]], title: str | None = None) -> None:
    """An A4 PDF drawn line by line: each page a list of (x, y, text, size, bold); the metadata title is
    reportlab's default "untitled" unless given ("" writes none)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=A4)
    if title is not None:
        pdf.setTitle(title)
    for lines in pages:
        for x, y, text, size, bold in lines:
            pdf.setFont("Helvetica-Bold" if bold else "Helvetica", size)
            pdf.drawString(x, y, text)
        pdf.showPage()
    pdf.save()


def _body(y: float, text: str, x: float = 72) -> tuple[float, float, str, float, bool]:
    return (x, y, text, 10, False)


def _heading(y: float, text: str, size: float = 16) -> tuple[float, float, str, float, bool]:
    return (72, y, text, size, True)


def test_a_running_header_in_a_larger_font_is_left_out_and_page_2_continues_the_previous_section(
    tmp_path: Path,
) -> None:
    """A running header printed larger than the body ("Kontor Kaffee GmbH", 14 pt bold, top of every page) read
    as a heading, so it stayed and headed page 2's first lines; a margin line of any kind repeated on more than
    half the pages goes, and page 2 continues "2. Technische Daten"."""
    header = (72, 800, "Kontor Kaffee GmbH", 14, True)
    path = tmp_path / "kopfzeile.pdf"
    _pdf(path, [
        [header, _heading(720, "1. Sicherheit"), _body(700, "Ziehen Sie vor dem Reinigen immer den Netzstecker."),
         _body(686, "Das Mahlwerk darf nur im Stillstand geöffnet werden."), _heading(650, "2. Technische Daten"),
         _body(630, "Die Mühle hat einen Motor mit 360 Watt."), _body(616, "Sie wiegt 4,2 Kilogramm.")],
        [header, _body(720, "Der Bohnenbehälter fasst 500 Gramm."),
         _body(706, "Das Gehäuse ist aus gebürstetem Aluminium."), _heading(670, "3. Bedienung"),
         _body(650, "Wählen Sie den Mahlgrad am Drehring.")],
        [header, _heading(720, "4. Garantie"), _body(700, "Die Garantie beträgt fünf Jahre.")],
    ], title="Kaffeemühle M2")
    doc = load(path)
    assert [(s.heading, s.page) for s in doc.sections] == [
        ("1. Sicherheit", 1), ("2. Technische Daten", 1), ("2. Technische Daten", 2), ("3. Bedienung", 2),
        ("4. Garantie", 3)]
    assert "Der Bohnenbehälter fasst 500 Gramm." in _section(doc, "2. Technische Daten", 2).text
    assert not any("Kontor Kaffee GmbH" in f"{s.heading} {s.text}" for s in doc.sections)


def test_step_numbers_from_10_up_become_list_items_too(tmp_path: Path) -> None:
    """A two-digit step number in the number column ("10" at x=60, the text at x=75, 10 pt) leaves a gap of
    ~0.39 em, under the old 0.5 em threshold: "10 Stellen …" kept its wording while "9." became a list item;
    a sentence starting with a number set with a plain space (~0.28 em) still keeps its wording."""
    steps = {8: "Stellen Sie die Mühle ab.", 9: "Ziehen Sie den Netzstecker.", 10: "Nehmen Sie den Behälter ab.",
             11: "Reinigen Sie das Mahlwerk mit dem Pinsel."}
    lines = [_heading(720, "5. Reinigung"), _body(700, "So reinigen Sie die Mühle.")]
    for row, (number, step) in enumerate(steps.items(), start=1):
        lines += [_body(700 - 14 * row, str(number), x=60), _body(700 - 14 * row, step, x=75)]
    lines.append(_body(620, "12 kostenlose Parkplätze stehen im Hof.", x=60))
    path = tmp_path / "schritte.pdf"
    _pdf(path, [lines], title="Reinigung")
    text = load(path).sections[0].text.splitlines()
    assert text == ["So reinigen Sie die Mühle.", *(f"{number}. {step}" for number, step in steps.items()),
                    "12 kostenlose Parkplätze stehen im Hof."]


def test_a_heading_printed_on_two_lines_is_one_heading(tmp_path: Path) -> None:
    """Two heading lines of one size in a row ("2. Technische Daten und" / "Abmessungen", 16 pt) are one
    heading (before: the first line's section was empty and dropped, the section was headed "Abmessungen")."""
    path = tmp_path / "zweizeilig.pdf"
    _pdf(path, [[_heading(720, "1. Sicherheit"), _body(700, "Ziehen Sie vor dem Reinigen den Netzstecker."),
                 _heading(660, "2. Technische Daten und"), _heading(640, "Abmessungen"),
                 _body(620, "Die Mühle ist 38 Zentimeter hoch."), _heading(580, "3. Bedienung"),
                 _body(560, "Wählen Sie den Mahlgrad am Drehring.")]], title="Kaffeemühle M2")
    doc = load(path)
    assert [s.heading for s in doc.sections] == ["1. Sicherheit", "2. Technische Daten und Abmessungen",
                                                 "3. Bedienung"]
    assert doc.sections[1].text == "Die Mühle ist 38 Zentimeter hoch."


@pytest.mark.parametrize("meta_title", [None, ""], ids=["reportlab-untitled", "no-title"])
def test_the_printed_title_is_the_title_when_the_metadata_has_none(tmp_path: Path, meta_title: str | None) -> None:
    """Without a metadata title, or with reportlab's placeholder "untitled", the title is the first printed line
    of page 1 (before: "untitled", or the first section's heading "1. Sicherheit" – the title line, a heading
    without text, was lost); the title line is not merged with the next heading, which is of another size."""
    path = tmp_path / "datenblatt.pdf"
    _pdf(path, [[_heading(760, "Datenblatt Kaffeemühle M2", size=18), _heading(720, "1. Sicherheit", size=14),
                 _body(700, "Ziehen Sie vor dem Reinigen immer den Netzstecker.")],
                [_heading(720, "2. Garantie", size=14), _body(700, "Die Garantie beträgt fünf Jahre.")]],
         title=meta_title)
    doc = load(path)
    assert doc.title == "Datenblatt Kaffeemühle M2"
    assert [(s.heading, s.page) for s in doc.sections] == [("1. Sicherheit", 1), ("2. Garantie", 2)]
