from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest

from qa.core.errors import IngestError
from qa.ingest import article_segments, is_boilerplate, load_documents, title_of
from tests.helpers import CANTOR_DOC, HUANG_DOC, SEEDS, original_text


def indexed_text(doc) -> str:
    return "\n\n".join(doc.text[s:e] for s, e in doc.segments)


def test_seed_ids_titles_hashes_and_sources(seed_docs):
    by_id = {d.doc_id: d for d in seed_docs}
    assert sorted(by_id) == [HUANG_DOC, CANTOR_DOC]
    huang = by_id[HUANG_DOC]
    assert huang.title.startswith("CEO da NVIDIA, Jensen Huang, discute o fiasco do DeepSeek")
    assert huang.title.endswith("“entenderam tudo errado”")
    assert huang.text == original_text(HUANG_DOC)
    assert huang.sha256 == hashlib.sha256((SEEDS / HUANG_DOC).read_bytes()).hexdigest()
    assert Path(huang.source).name == HUANG_DOC
    assert by_id[CANTOR_DOC].title.startswith("Cantor Fitzgerald analisa NVIDIA")


@pytest.mark.parametrize("doc_id", [HUANG_DOC, CANTOR_DOC])
def test_title_is_indexed_once_and_boilerplate_is_not(seed_docs, doc_id):
    doc = next(d for d in seed_docs if d.doc_id == doc_id)
    text = indexed_text(doc)
    assert doc.text.count(doc.title) == 2  # the page prints the headline twice
    assert text.count(doc.title) == 1
    for furniture in (
        "Deixe um comentário",
        "O seu endereço de email não será publicado",
        "Campos obrigatórios",
        "Fonte e Imagens",
        "[fonte e imagens]",
        "https://",
    ):
        assert furniture.lower() not in text.lower()


def test_article_text_is_kept(seed_docs):
    by_id = {d.doc_id: indexed_text(d) for d in seed_docs}
    assert "os investidores avaliaram mal a situação" in by_id[HUANG_DOC]
    assert "26 de fevereiro" in by_id[HUANG_DOC]
    assert "– CEO da NVIDIA via Business Insider" in by_id[HUANG_DOC]
    assert "Raymond James" in by_id[CANTOR_DOC]
    assert "1. Utilização de números de ponto flutuante de 8 bits" in by_id[CANTOR_DOC]


def test_segments_are_spans_of_the_original(seed_docs):
    for doc in seed_docs:
        for start, end in doc.segments:
            assert 0 <= start < end <= len(doc.text)
            assert doc.text[start:end] == doc.text[start:end].strip()


def test_comment_form_ends_the_article():
    text = "Title\n\nBody sentence.\n\nLeave a comment\n\nGreat post!\n\nMore comments."
    kept = [text[s:e] for s, e in article_segments(text)]
    assert kept == ["Title", "Body sentence."]


@pytest.mark.parametrize(
    "paragraph, expected",
    [
        ("Fonte e Imagens", True),
        ("Para mais, confira esta [fonte e imagens](https://example.org/x).", True),
        ("[link](https://example.org)", True),
        ("https://example.org/article", True),
        ("O seu endereço de email não será publicado. Campos obrigatórios marcados com *", True),
        ("A fonte de energia do data center é solar.", False),
        ("Huang disse que os investidores erraram.", False),
    ],
)
def test_boilerplate_rules(paragraph, expected):
    assert is_boilerplate(paragraph) is expected


def test_markdown_title_and_crlf_are_kept_verbatim(tmp_path):
    (tmp_path / "a.md").write_bytes("# Título\r\n\r\nPrimeira frase.\r\n".encode())
    (doc,) = load_documents([tmp_path])
    assert doc.title == "Título"
    assert doc.text == "# Título\r\n\r\nPrimeira frase.\r\n"  # no newline translation
    assert [doc.text[s:e] for s, e in doc.segments] == ["# Título", "Primeira frase."]
    assert title_of("\n\n  Hello  \nworld") == "Hello"


def test_jsonl_records(tmp_path):
    path = tmp_path / "corpus.jsonl.gz"
    rows = [{"id": "d1", "title": "T1", "text": "Um texto."}, {"id": 7, "text": "Outro\n\ntexto."}]
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(json.dumps(r) for r in rows) + "\n")
    docs = load_documents([path])
    assert [(d.doc_id, d.title) for d in docs] == [("d1", "T1"), ("7", "Outro")]
    assert docs[1].segments == ((0, 5), (7, 13))
    assert docs[0].source.endswith("corpus.jsonl.gz") and docs[0].metadata == {}


def test_jsonl_records_carry_what_http_takes(tmp_path):
    path = tmp_path / "feed.jsonl"
    metadata = {"n": 2, "f": 0.5, "ok": True, "s": "x"}
    row = {"id": "d", "text": "Um texto.", "source": "https://example.org/a",
           "published": "2025-03-01", "metadata": metadata}  # fmt: skip
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    (doc,) = load_documents([path])
    assert (doc.source, doc.published, doc.metadata) == (
        row["source"], row["published"], row["metadata"]
    )  # fmt: skip


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"id": "a", "text": "ok"}\nnot json\n', "corpus.jsonl:2: not a JSON object"),
        ('{"text": "no id"}\n', "corpus.jsonl:1: 'id' must be a string"),
        ('{"id": "a", "text": 3}\n', "corpus.jsonl:1: 'text' must be a string"),
        ('{"id": "a\\u0001", "text": "x"}\n', "contains control"),
        ('{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n', "duplicate document id 'a'"),
        ('{"id": "a", "text": "   "}\n', "has no text: no letter or digit"),
        ('{"id": "a", "text": "x", "published": 0}\n', ":1: 'published' must be a date"),
        ('{"id": "a", "text": "x", "published": "31/01"}\n', "written YYYY-MM-DD"),
        ('{"id": "a", "text": "x", "metadata": {"k": [1]}}\n', "'metadata' must be an object"),
        ('{"id": "a", "text": "x", "metadata": {"k": NaN}}\n', "finite numbers"),
        ('{"id": "a", "text": "x", "metadata": 3}\n', "'metadata' must be an object"),
        ('{"id": "a", "text": "x", "source": 3}\n', "'source' must be a string"),
        ('{"id": "a", "text": "x", "metadata": {"k": 1e400000}}\n', "finite numbers"),
    ],
)
def test_bad_jsonl_is_a_readable_error(tmp_path, content, message):
    path = tmp_path / "corpus.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(IngestError, match=message.replace("*", r"\*")):
        load_documents([path])


def test_bad_sources_are_readable_errors(tmp_path):
    with pytest.raises(IngestError, match="no such file or folder"):
        load_documents([tmp_path / "missing"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(IngestError, match="no file of a kind this reads"):
        load_documents([empty])
    latin1 = tmp_path / "latin1"
    latin1.mkdir()
    (latin1 / "a.txt").write_bytes("Notícia em português".encode("latin-1"))
    with pytest.raises(IngestError, match=r"a.txt: not valid UTF-8 \(byte 3\)"):
        load_documents([latin1])
    (tmp_path / "x.rtf").write_bytes(b"{\\rtf1 x}")
    with pytest.raises(IngestError, match="unsupported file type"):
        load_documents([tmp_path / "x.rtf"])


def test_a_folder_of_html_pages_is_read_like_any_other(tmp_path):
    """``qa index`` and ``qa add`` take folders holding .html pages: each page's article
    text, without its menus and footers, under its path in the folder."""
    folder = tmp_path / "pages"
    (folder / "politica").mkdir(parents=True)
    (folder / "politica" / "trem.html").write_text(
        "<html><head><title>Trem-bala</title></head><body><nav>Início | Política</nav>"
        "<article><h1>Trem-bala</h1><p>O governo aprovou o trem de alta velocidade entre Rio "
        "de Janeiro e São Paulo, com viagem de 90 minutos entre as capitais.</p></article>"
        "<footer>Todos os direitos reservados.</footer></body></html>",
        encoding="utf-8",
    )
    (folder / "nota.txt").write_text("Nota\n\nUm texto simples.", encoding="utf-8")
    docs = {d.doc_id: d for d in load_documents([folder])}
    assert set(docs) == {"politica/trem.html", "nota.txt"}
    page = docs["politica/trem.html"]
    assert page.title == "Trem-bala" and "90 minutos" in page.text
    assert "Início | Política" not in page.text and "direitos reservados" not in page.text


def test_sources_never_show_the_servers_absolute_path(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "outside" / "news"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.txt").write_text("Um artigo sobre chips.\n", encoding="utf-8")
    (folder / "feed.jsonl").write_text('{"id": "r1", "text": "Outro artigo."}\n')
    work = tmp_path / "work"
    (work / "mine").mkdir(parents=True)
    (work / "mine" / "b.md").write_text("# Nota\n\nUma nota.\n", encoding="utf-8")
    monkeypatch.chdir(work)
    outside = {d.doc_id: d.source for d in load_documents([folder])}  # an absolute path
    assert outside == {"sub/a.txt": "news/sub/a.txt", "r1": "news/feed.jsonl"}
    assert [d.source for d in load_documents([folder / "sub" / "a.txt"])] == ["a.txt"]
    inside = load_documents([work / "mine"]) + load_documents([Path("mine")])
    assert [d.source for d in inside] == ["mine/b.md", "mine/b.md"]  # as the operator wrote it
    assert [d.source for d in load_documents([Path(".")])] == ["mine/b.md"]
