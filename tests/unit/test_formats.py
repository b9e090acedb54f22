"""Office, OpenDocument, EPUB and spreadsheet files written by their own libraries at test
time, read back with exact citations; the PDF normalisation on lines as a text layer gives
them (PDFs themselves are printed by Chromium in tests/system/test_documents_formats.py)."""

from __future__ import annotations

import pytest

from qa.core.errors import IngestError
from qa.ingest import load_documents
from qa.ingest.formats import (
    drop_running_lines,
    join_pages,
    paragraphs,
    read_epub,
    resolve_hyphens,
    usable_title,
)
from qa.store.records import StoredDocument
from qa.testing import epub_bytes

FABRICA = "A fábrica de chips da empresa em Manaus vai dobrar a produção até 2027."
ENGENHEIROS = "A empresa vai contratar 450 engenheiros e criar 3.000 empregos diretos."


def stored(doc) -> StoredDocument:
    return StoredDocument(doc.doc_id, doc.title, doc.source, doc.sha256, doc.text, pages=doc.pages)


def test_lines_become_paragraphs_with_hyphens_undone() -> None:
    lines = [
        "A fábrica de chips da empresa em Manaus vai dobrar a pro-",
        "dução até 2027, segundo o diretor da unidade, que falou on-",
        "tem com os jornalistas.",
        "",
        "Um segundo parágrafo começa aqui e continua na linha de",
        "baixo sem hífen nenhum até acabar.",
        "Curta.",
        "Depois da linha curta começa outro parágrafo.",
    ]
    text = resolve_hyphens(paragraphs(lines), {"produção", "a", "fábrica"})
    assert text.split("\n\n") == [
        "A fábrica de chips da empresa em Manaus vai dobrar a produção até 2027, segundo o "
        "diretor da unidade, que falou on-tem com os jornalistas.",  # "ontem": written nowhere
        "Um segundo parágrafo começa aqui e continua na linha de baixo sem hífen nenhum até "
        "acabar.",
        "Curta.",
        "Depois da linha curta começa outro parágrafo.",
    ]
    assert paragraphs(["bem-estar é", "um tema"]) == "bem-estar é um tema"  # not at a line end
    # PDFium's own mark of a hyphen at a line's end: kept unless the whole word is written
    assert resolve_hyphens("estava pré\x02treinando", {"treinando"}) == "estava pré-treinando"
    assert resolve_hyphens("na indús\x02tria", {"indústria"}) == "na indústria"
    assert paragraphs([]) == ""


def test_running_headers_footers_and_page_numbers_are_dropped() -> None:
    bodies = [
        [FABRICA, "A unidade fica no polo industrial.", "O diretor falou ontem."],
        [ENGENHEIROS, "Os cursos começam em março.", "A prefeitura apoia o plano."],
        ["O governo estadual deu incentivos.", "A energia vem de uma usina nova.", "Fim."],
        ["Os sindicatos aprovaram o acordo.", "Os salários sobem 8%.", "Houve festa."],
    ]
    pages = [
        ["Relatório anual 2025", *body, f"Página {n} de 4"] for n, body in enumerate(bodies, 1)
    ]
    pages[2].append("- 3 -")
    assert drop_running_lines(pages) == bodies
    two = [["Cabeçalho", "Texto um."], ["Cabeçalho", "Texto dois."]]
    assert drop_running_lines(two) == two  # two pages say too little to call it a header


def test_titles_tools_write_for_want_of_one_are_not_titles() -> None:
    for placeholder in ("about:blank", "Microsoft Word - relatorio.docx", "scan0001.pdf", " "):
        assert usable_title(placeholder) is None, placeholder
    assert usable_title(" Relatório  anual ") == "Relatório anual"


def test_pages_join_and_spans_name_their_pages() -> None:
    joined = join_pages(["Primeira página.", "", "Terceira página."])
    assert joined.text == "Primeira página.\n\nTerceira página."
    assert joined.pages == (0, 18, 18)
    doc = StoredDocument("d", "t", "s", "h", joined.text, pages=joined.pages)
    assert doc.pages_of(0, 5) == [1]
    assert doc.pages_of(18, 30) == [3]  # the empty second page holds nothing
    assert doc.pages_of(10, 25) == [1, 2, 3]
    assert StoredDocument("d", "t", "s", "h", "x").pages_of(0, 1) is None


def test_a_word_document(tmp_path) -> None:
    import docx

    document = docx.Document()
    document.core_properties.title = "Fábrica em Manaus"
    document.add_heading("Fábrica de chips em Manaus", 1)
    document.add_paragraph(FABRICA)
    document.add_paragraph("")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "Engenheiros", "450"
    document.add_paragraph(ENGENHEIROS)
    document.save(tmp_path / "memo.docx")
    (doc,) = load_documents([tmp_path / "memo.docx"])
    assert doc.title == "Fábrica em Manaus" and doc.pages == ()
    assert doc.text.split("\n\n") == [
        "Fábrica de chips em Manaus",
        FABRICA,
        ENGENHEIROS,
        "Engenheiros | 450",
    ]
    start = doc.text.index("450 engenheiros")
    assert doc.text[start : start + 15] == "450 engenheiros"


def test_a_presentation_cites_its_slides(tmp_path) -> None:
    import pptx

    deck = pptx.Presentation()
    for heading, body in (("Produção", FABRICA), ("Empregos", ENGENHEIROS)):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = heading
        slide.placeholders[1].text = body
    deck.save(tmp_path / "plano.pptx")
    (doc,) = load_documents([tmp_path / "plano.pptx"])
    assert len(doc.pages) == 2
    start = doc.text.index("450 engenheiros")
    assert stored(doc).pages_of(start, start + 15) == [2]
    assert stored(doc).pages_of(0, len(doc.text)) == [1, 2]


def test_opendocument_text_spreadsheet_and_presentation(tmp_path) -> None:
    import odfdo

    text = odfdo.Document("text")
    text.body.append(odfdo.Header(1, "Fábrica de chips em Manaus"))
    text.body.append(odfdo.Paragraph(FABRICA))
    text.body.append(odfdo.Paragraph(ENGENHEIROS))
    text.save(tmp_path / "nota.odt")
    sheet = odfdo.Document("spreadsheet")
    table = odfdo.Table("Vagas")
    table.set_values([["Cargo", "Vagas"], ["Engenheiros", 450]])
    sheet.body.append(table)
    sheet.save(tmp_path / "vagas.ods")
    slides = odfdo.Document("presentation")
    for empty in slides.body.get_draw_pages():  # the template's own
        slides.body.delete(empty)
    for words in (FABRICA, ENGENHEIROS):
        page = odfdo.DrawPage()
        frame = odfdo.Frame.text_frame(words, size=("20cm", "5cm"), position=("1cm", "1cm"))
        page.append(frame)
        slides.body.append(page)
    slides.save(tmp_path / "plano.odp")
    docs = {d.doc_id: d for d in load_documents([tmp_path])}
    assert docs["nota.odt"].text.split("\n\n") == [
        "Fábrica de chips em Manaus",
        FABRICA,
        ENGENHEIROS,
    ]
    assert docs["vagas.ods"].text.split("\n\n") == ["Cargo | Vagas", "Engenheiros | 450"]
    presentation = docs["plano.odp"]
    assert len(presentation.pages) == 2 and presentation.text.split("\n\n")[1] == ENGENHEIROS


def test_spreadsheets_excel_and_csv_give_their_rows(tmp_path) -> None:
    import datetime

    import openpyxl

    book = openpyxl.Workbook()
    book.properties.title = "Vagas em Manaus"
    first = book.active
    first.append(["Cargo", "Vagas", "Desde"])
    first.append(["Engenheiros", 450, datetime.datetime(2025, 3, 1)])
    first.append([None, None, None])  # an empty row is no line
    first.append(["Técnicos", 120.0, " "])
    book.create_sheet("Notas").append([FABRICA])
    book.save(tmp_path / "vagas.xlsx")
    (tmp_path / "vagas.csv").write_bytes("\ufeffCargo;Vagas\nEngenheiros;450\n".encode())
    (tmp_path / "vagas.tsv").write_text("Cargo\tVagas\nTécnicos\t120\n", encoding="utf-8")
    docs = {d.doc_id: d for d in load_documents([tmp_path])}
    workbook = docs["vagas.xlsx"]
    assert workbook.title == "Vagas em Manaus"
    assert workbook.text.split("\n\n") == [
        "Cargo | Vagas | Desde",
        "Engenheiros | 450 | 2025-03-01",
        "Técnicos | 120",
        FABRICA,
    ]
    assert docs["vagas.csv"].text.split("\n\n") == ["Cargo | Vagas", "Engenheiros | 450"]
    assert docs["vagas.tsv"].text.split("\n\n") == ["Cargo | Vagas", "Técnicos | 120"]
    (tmp_path / "latin.csv").write_bytes("Município;Vagas\n".encode("latin-1"))
    with pytest.raises(IngestError, match=r"latin\.csv: not valid UTF-8"):
        load_documents([tmp_path / "latin.csv"])


def test_an_epub_in_reading_order(tmp_path) -> None:
    chapters = [
        f"<h1>Capítulo {n}</h1><p>{w}</p><p>{w}</p>" for n, w in ((1, FABRICA), (2, ENGENHEIROS))
    ]
    (tmp_path / "relatos.epub").write_bytes(epub_bytes(chapters, "Relatos", spine=[1, 0]))
    (doc,) = load_documents([tmp_path / "relatos.epub"])
    assert doc.title == "Relatos"
    assert doc.text.index(ENGENHEIROS) < doc.text.index(FABRICA)  # the spine's order
    blocks = ["Capítulo 2", ENGENHEIROS, ENGENHEIROS, "Capítulo 1", FABRICA, FABRICA]
    assert doc.text.split("\n\n") == blocks  # every paragraph of a chapter, on its own
    with pytest.raises(IngestError, match="not a readable EPUB"):
        read_epub(b"PK\x03\x04 cut short", "broken.epub")


@pytest.mark.parametrize(
    "name", ["broken.docx", "broken.pptx", "broken.odt", "broken.pdf", "broken.xlsx"]
)
def test_a_damaged_file_says_so(tmp_path, name) -> None:
    (tmp_path / name).write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(IngestError, match=f"{name}: not a readable"):
        load_documents([tmp_path / name])


def test_a_folder_walk_names_every_file_it_leaves_out(tmp_path) -> None:
    (tmp_path / "nota.txt").write_text(FABRICA, encoding="utf-8")
    (tmp_path / "relatorio.rtf").write_bytes(b"{\\rtf1 x}")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "scan.pdf").write_bytes(b"%PDF-1.4 cut short")
    (tmp_path / ".hidden.rtf").write_bytes(b"x")  # hidden files are not looked at
    passed: list[str] = []
    docs = load_documents([tmp_path], passed)
    assert [d.doc_id for d in docs] == ["nota.txt"]
    assert len(passed) == 2
    assert "relatorio.rtf: unsupported file type" in passed[0]
    assert "scan.pdf: not a readable PDF" in passed[1]
    with pytest.raises(IngestError, match=r"relatorio\.rtf: unsupported file type"):
        load_documents([tmp_path])  # --strict
