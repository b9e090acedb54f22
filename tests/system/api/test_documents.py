"""POST/GET/PUT/DELETE /documents against a real `qa serve` process."""

from __future__ import annotations

import json
import shutil
import threading

import httpx
import pytest

from qa.testing import running_server
from tests.helpers import CANTOR_DOC, HUANG_DOC, original_text, snapshot

STORY = (
    "Fábrica de chips em Manaus\n\n"
    "A fábrica de chips da empresa em Manaus vai dobrar a produção de memórias até 2027. "
    "O investimento anunciado é de R$ 2 bilhões e deve criar 3.000 empregos diretos."
)
UPDATED = (
    "Fábrica de baterias em Campinas\n\n"
    "A empresa trocou o projeto: uma fábrica de baterias de lítio será construída em "
    "Campinas, com investimento de R$ 5 bilhões, segundo o comunicado."
)
HTML = (
    "<html><head><title>Trem-bala entre Rio e São Paulo</title></head><body>"
    "<nav>Início | Política | Esportes</nav><article><h1>Trem-bala entre Rio e São Paulo</h1>"
    "<p>O governo aprovou o projeto do trem de alta velocidade entre Rio de Janeiro e São "
    "Paulo, com viagem prevista de 90 minutos entre as duas capitais.</p>"
    "<p>As obras devem começar em 2027 e custar R$ 50 bilhões, segundo o ministério.</p>"
    "</article><footer>Deixe um comentário. Todos os direitos reservados.</footer></body></html>"
)


@pytest.fixture
def index_copy(backend_settings, seed_index, tmp_path):
    return shutil.copytree(backend_settings.index_dir, tmp_path / "index")


def ask(base, question, k=5, **filters):
    body = {"question": question, "top_k": k}
    if filters:
        body["filters"] = filters
    response = httpx.post(base + "/query", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()["results"]


def counts(base):
    health = httpx.get(base + "/health", timeout=10).json()
    return health["documents"], health["chunks"]


def test_add_update_delete_and_restart(index_copy, server_env):
    fab = {"id": "fab", "text": STORY, "metadata": {"desk": "eco"}, "published": "2025-10-01"}
    with running_server(index_copy, **server_env) as (base, _):
        docs0, chunks0 = counts(base)
        r = httpx.post(
            base + "/documents",
            json=fab,
            timeout=60,
        )
        assert r.status_code == 201, r.text
        [added] = r.json()["documents"]
        assert added["status"] == "new" and added["chunks"] >= 1
        assert counts(base) == (docs0 + 1, chunks0 + added["chunks"])
        assert ask(base, "chip factory in Manaus", 1)[0]["citation"]["doc_id"] == "fab"
        detail = httpx.get(base + "/documents/fab", timeout=10).json()
        assert detail["chunks"] == added["chunks"] and detail["metadata"] == {"desk": "eco"}
        assert detail["published"] == "2025-10-01"

        again = httpx.post(
            base + "/documents",
            json=fab,
            timeout=60,
        )
        assert again.status_code == 200 and again.json()["documents"][0]["status"] == "unchanged"

        r = httpx.put(base + "/documents/fab", json={"text": UPDATED}, timeout=60)
        assert r.status_code == 200 and r.json()["documents"][0]["status"] == "updated"
        results = ask(base, "fábrica de chips em Manaus memórias", 10)
        hits = [x for x in results if x["citation"]["doc_id"] == "fab"]
        assert hits and all("Manaus" not in x["text"] and "Campinas" in x["text"] for x in hits)
        assert ask(base, "battery plant in Campinas", 1)[0]["citation"]["doc_id"] == "fab"
        updated_chunks = r.json()["documents"][0]["chunks"]
        assert counts(base) == (docs0 + 1, chunks0 + updated_chunks)

        upload = httpx.post(
            base + "/documents/upload", files={"file": ("trem.html", HTML, "text/html")}, timeout=60
        )
        assert upload.status_code == 201, upload.text
        assert (
            ask(base, "high-speed train Rio São Paulo", 1)[0]["citation"]["doc_id"] == "trem.html"
        )
        best = ask(base, "high-speed train Rio São Paulo", 1)[0]
        assert "Início | Política" not in best["text"] and "Deixe um comentário" not in best["text"]

        assert httpx.delete(base + "/documents/fab", timeout=60).status_code == 200
        assert httpx.get(base + "/documents/fab", timeout=10).status_code == 404
        for question in ("battery plant in Campinas", "fábrica de baterias de lítio"):
            assert all(x["citation"]["doc_id"] != "fab" for x in ask(base, question, 20))
        state = counts(base)
        listing = httpx.get(base + "/documents", timeout=10).json()["documents"]
    with running_server(index_copy, **server_env) as (base, _):
        assert counts(base) == state
        assert httpx.get(base + "/documents", timeout=10).json()["documents"] == listing
        assert all(x["citation"]["doc_id"] != "fab" for x in ask(base, "fábrica de baterias", 20))
        huang = ask(base, "what did Huang say about investors?", 1)[0]
        c = huang["citation"]
        assert original_text(c["doc_id"])[c["char_start"] : c["char_end"]] == huang["text"]


def test_bad_documents_get_a_clear_4xx_and_change_nothing(index_copy, server_env):
    with running_server(index_copy, QA_MAX_DOCUMENT_BYTES="20000", **server_env) as (base, _):
        before = snapshot(index_copy)
        upload = "/documents/upload"
        latin = ("a.txt", "Ação".encode("latin-1"), "text/plain")
        cases = [
            ("/documents", dict(json={"text": "x" * 20001}), 413, "limit of 20000 bytes"),
            (upload, dict(files={"file": ("a.txt", b"x" * 20001, "text/plain")}), 413, "limit"),
            (upload, dict(files={"file": latin}), 400, "UTF-8"),
            (upload, dict(files={"file": ("a.rtf", b"{\\rtf1}", "application/rtf")}), 415, "type"),
            (upload, dict(files={"file": ("a.pdf", b"%PDF-1.4", "application/pdf")}), 400, "PDF"),
            (upload, dict(data={"other": "x"}), 422, "file: Field required"),
            ("/documents", dict(json={"text": "Deixe um comentário"}), 400, "no text to index"),
            ("/documents", dict(json={"id": "a/../b", "text": STORY}), 400, "'..' segment"),
            ("/documents", dict(json={"id": "a\u0007b", "text": STORY}), 400, "control"),
            ("/documents", dict(json={"id": "x" * 201, "text": STORY}), 400, "longer than 200"),
            ("/documents", dict(json={"text": STORY, "metadata": {"k": [1]}}), 422, "metadata.k"),
            ("/documents", dict(json={"text": STORY, "published": "soon"}), 422, "published"),
            ("/documents", dict(json={"text": STORY, "colour": "red"}), 422, "unknown field"),
            (
                "/documents",
                dict(content=b"{not json", headers={"content-type": "application/json"}),
                422,
                "not valid JSON",
            ),
        ]
        for path, kwargs, status, message in cases:
            r = httpx.post(base + path, timeout=60, **kwargs)
            assert r.status_code == status, (kwargs, r.text)
            assert set(r.json()) == {"error"} and message in r.json()["error"]["message"], r.text
        for method in ("GET", "PUT", "DELETE"):
            r = httpx.request(method, base + "/documents/unknown", json={"text": STORY}, timeout=30)
            assert r.status_code == 404, r.text
            assert r.json()["error"] == {
                "code": "not_found",
                "message": "no document with id 'unknown' in the collection "
                "(GET /documents or `qa list` shows the ids)",
            }
        assert snapshot(index_copy) == before
        assert counts(base)[0] == 2


def test_queries_stay_consistent_while_documents_change(index_copy, server_env):
    """Readers in several threads, one writer adding and deleting: no failure, and every
    result is an exact slice of a document that existed."""
    texts = {HUANG_DOC: original_text(HUANG_DOC), CANTOR_DOC: original_text(CANTOR_DOC)}
    extra = {f"doc{i}": STORY.replace("2027", str(2030 + i)) for i in range(4)}
    texts.update(extra)
    errors: list[str] = []
    stop = threading.Event()
    questions = ["what did Huang say about investors?", "fábrica de chips em Manaus", "Jevons"]

    with running_server(index_copy, **server_env) as (base, _):

        def reader(n: int) -> None:
            with httpx.Client(timeout=60) as client:
                while not stop.is_set():
                    r = client.post(base + "/query", json={"question": questions[n % 3]})
                    n += 1
                    if r.status_code != 200:
                        errors.append(r.text)
                        continue
                    for hit in r.json()["results"]:
                        c = hit["citation"]
                        if texts[c["doc_id"]][c["char_start"] : c["char_end"]] != hit["text"]:
                            errors.append(json.dumps(hit))

        threads = [threading.Thread(target=reader, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        try:
            with httpx.Client(timeout=120) as client:
                for _ in range(2):
                    for doc_id, text in extra.items():
                        r = client.post(base + "/documents", json={"id": doc_id, "text": text})
                        assert r.status_code == 201, r.text
                    for doc_id in extra:
                        assert client.delete(base + f"/documents/{doc_id}").status_code == 200
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert not errors, errors[:3]
        assert counts(base)[0] == 2
