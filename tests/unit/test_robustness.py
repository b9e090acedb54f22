"""What a user or an attacker may send is kept as sent or refused with a readable error,
on every path, and never leaves an index that cannot be opened."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from qa.api import create_app
from qa.cli import app
from qa.collection import FolderCollection
from qa.core.errors import IngestError
from qa.ingest import documents_from_file, make_text_document, validate_doc_id
from qa.service import QAService
from tests.helpers import LOCAL, StandInEmbedder, build_index, faiss_backend, one_line_error

runner = CliRunner()
SEPARATORS = ("\u2028", "\u2029", "\u0085")


def reopened(folder):
    return FolderCollection.open(folder, faiss_backend(), StandInEmbedder()).index


@pytest.mark.parametrize("separator", SEPARATORS)
def test_line_separators_in_stored_fields_leave_the_index_openable(separator, tmp_path):
    """A title, source or metadata value holding U+2028, U+2029 or U+0085 round-trips."""
    folder = tmp_path / "index"
    doc = make_text_document(
        "ls",
        "Um artigo sobre a fábrica.",
        source=f"a{separator}b",
        title=f"a{separator}b",
        metadata={f"k{separator}": f"v{separator}w"},
    )
    build_index([doc], StandInEmbedder(), folder)
    stored = reopened(folder).documents["ls"]
    assert (stored.title, stored.source) == (f"a{separator}b", f"a{separator}b")
    assert stored.metadata == {f"k{separator}": f"v{separator}w"}


def test_a_jsonl_upload_keeps_line_separators_inside_its_strings():
    line = json.dumps({"id": "x", "text": "Um\u2028artigo."}, ensure_ascii=False)
    (doc,) = documents_from_file("feed.jsonl", line.encode(), "upload")
    assert doc.text == "Um\u2028artigo."


_fields = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    title=_fields,
    source=_fields,
    metadata=st.dictionaries(_fields, _fields | st.integers() | st.booleans(), max_size=3),
    text=st.text(min_size=1, max_size=200).filter(lambda t: any(c.isalnum() for c in t)),
)
def test_every_stored_field_round_trips_whatever_it_holds(
    tmp_path_factory, title, source, metadata, text
):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        with pytest.raises(IngestError, match="lone surrogate"):
            make_text_document("d", text, source, title, None, metadata)
        return
    if any(type(v) is int and not -(2**63) <= v < 2**63 for v in metadata.values()):
        with pytest.raises(IngestError, match="outside the 64-bit range"):
            make_text_document("d", text, source, title, None, metadata)
        return
    folder = tmp_path_factory.mktemp("round-trip")
    try:
        doc = make_text_document("d", text, source, title or None, "2025-01-31", metadata)
    except IngestError as refused:  # only boilerplate, such as a lone "SOURCE" line
        assert "no text to index after cleaning" in str(refused)
        return
    build_index([doc], StandInEmbedder(), folder, companion=False)
    stored = reopened(folder).documents["d"]
    assert (stored.text, stored.source, stored.metadata) == (text, source, metadata)
    assert stored.title == doc.title and stored.published == "2025-01-31"


@pytest.mark.parametrize(
    "doc_id",
    [".", "..", "a/../b", "x//y", " lead", "trail ", "back\\slash", "a\u2028b", "a\x85b", ""],
)
def test_one_id_rule_on_every_path(doc_id, client, tmp_path):
    with pytest.raises(IngestError) as refused:
        validate_doc_id(doc_id)
    message = str(refused.value)
    # HTTP: the same message
    r = client.post("/documents", json={"id": doc_id, "text": "Um artigo."})
    assert r.status_code in (400, 422) and message in r.json()["error"]["message"]
    # a .jsonl record: the same message, with its line
    feed = tmp_path / "feed.jsonl"
    feed.write_text(json.dumps({"id": doc_id, "text": "Um artigo."}) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["add", str(feed), "--index-dir", str(tmp_path / "i")])
    assert result.exit_code == 1 and message in one_line_error(result)


def test_ids_of_documents_in_subfolders_are_ids():
    assert validate_doc_id("2025/março/artigo.txt") == "2025/março/artigo.txt"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"id": ' + "9" * 5000 + ', "text": "x"}', "not a usable JSON object"),
    ],
)
def test_hostile_jsonl_lines_are_readable_errors(line, message, tmp_path):
    with pytest.raises(IngestError, match=message):
        documents_from_file("feed.jsonl", line.encode(), "upload")
    feed = tmp_path / "feed.jsonl"
    feed.write_text(line + "\n", encoding="utf-8")
    result = runner.invoke(app, ["add", str(feed), "--index-dir", str(tmp_path / "i")])
    assert result.exit_code == 1 and message in one_line_error(result)


def test_bad_field_values_are_4xx_not_500(client):
    surrogate = '{"id": "s", "text": "Um artigo.", "metadata": {"k": "\\ud800"}}'
    r = client.post("/documents", content=surrogate, headers={"content-type": "application/json"})
    assert r.status_code in (400, 422) and "lone surrogate" in r.json()["error"]["message"]
    r = client.post("/documents", json={"id": "z", "text": "Um artigo.", "published": 0})
    assert r.status_code == 422 and "published" in r.json()["error"]["message"]
    r = client.post("/documents", json={"id": "c", "text": "\x00\x01\x02"})
    assert r.status_code == 400 and "no letter or digit" in r.json()["error"]["message"]


@pytest.fixture
def keyed(service: QAService):
    settings = service.settings.model_copy(
        update={"read_keys": ["r"], "write_keys": ["w"], "free_rate_limit": "5/second"}
    )
    with TestClient(create_app(settings, service=service), base_url=LOCAL) as test_client:
        yield test_client


@pytest.mark.parametrize("path", ["/health", "/metrics"])
def test_data_routes_ask_for_a_key_whatever_the_request_accepts(keyed, path):
    assert keyed.get(path, headers={"accept": "text/html"}).status_code == 401
    ok = keyed.get(path, headers={"accept": "text/html", "authorization": "Bearer r"})
    assert ok.status_code == 200


def test_the_documents_page_needs_no_key_but_its_data_does(keyed):
    assert keyed.get("/documents", headers={"accept": "text/html"}).status_code == 200
    assert keyed.get("/documents").status_code == 401


def test_paths_free_of_the_read_limit_cannot_be_flooded(keyed):
    statuses = [keyed.get("/openapi.json").status_code for _ in range(12)]
    assert statuses[0] == 200 and 429 in statuses


def test_probes_answer_whatever_host_they_name(client):
    assert client.get("/health/live", headers={"host": "10.0.0.7:8000"}).status_code == 200
    assert client.get("/health/ready", headers={"host": "10.0.0.7"}).status_code == 200
    assert client.get("/health", headers={"host": "10.0.0.7"}).status_code == 400


def test_unreadable_bodies_are_422_invalid_request(client):
    for body in (b'{"id": "x", "text": "\xff\xfe"}', b"[" * 100_000 + b"]" * 100_000):
        r = client.post("/documents", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"


def test_options_says_which_methods_a_path_takes(client):
    r = client.options("/documents")
    assert r.status_code == 204
    assert set(r.headers["allow"].split(", ")) == {"GET", "POST", "OPTIONS"}


def test_one_upload_carries_several_files_all_or_nothing(client):
    files = [
        ("file", ("one.txt", b"Primeiro artigo sobre chips.", "text/plain")),
        ("file", ("two.txt", "Segundo artigo sobre fábricas.".encode(), "text/plain")),
    ]
    r = client.post("/documents/upload", files=files)
    assert r.status_code == 201
    assert {d["doc_id"] for d in r.json()["documents"]} == {"one.txt", "two.txt"}
    bad = [files[0], ("file", ("x.rtf", b"{\\rtf1 x}", "application/rtf"))]
    assert client.post("/documents/upload", files=bad).status_code == 415
    damaged = [files[0], ("file", ("x.pdf", b"%PDF-1.4 cut short", "application/pdf"))]
    refused = client.post("/documents/upload", files=damaged)
    assert refused.status_code == 400 and "x.pdf: not a readable PDF" in refused.text
    client.delete("/documents/one.txt")
    client.delete("/documents/two.txt")


def test_the_openapi_document_declares_the_bearer_key(client):
    schema = client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert schema["paths"]["/query"]["post"]["security"] == [{"bearer": []}]
    assert "security" not in schema["paths"]["/health/live"]["get"]


def test_conditional_writes_change_only_the_version_that_was_read(client) -> None:
    story = "A fábrica de chips em Manaus vai contratar 450 engenheiros até dezembro."
    assert client.post("/documents", json={"id": "etag-doc", "text": story}).status_code == 201
    read = client.get("/documents/etag-doc")
    tag = read.headers["etag"]
    assert tag.startswith('"') and len(tag) == 34
    stale = {"If-Match": '"0123456789abcdef0123456789abcdef"'}
    refused = client.put("/documents/etag-doc", json={"text": story + " Outra."}, headers=stale)
    assert refused.status_code == 412 and refused.json()["error"]["code"] == "precondition_failed"
    assert client.get("/documents/etag-doc").json()["text"] == story  # nothing changed
    retitled = {"text": story, "title": "Novo título"}
    assert client.put("/documents/etag-doc", json=retitled, headers={"If-Match": tag}).is_success
    moved_on = client.get("/documents/etag-doc").headers["etag"]
    assert moved_on != tag  # a new title is a new version, though the text is the same
    assert client.delete("/documents/etag-doc", headers={"If-Match": tag}).status_code == 412
    weak = {"If-Match": f'W/{moved_on}, "other"'}
    assert client.delete("/documents/etag-doc", headers=weak).status_code == 200
    gone = client.delete("/documents/etag-doc", headers={"If-Match": "*"})
    assert gone.status_code == 412  # no version of it exists any more
    assert client.delete("/documents/etag-doc").status_code == 404
