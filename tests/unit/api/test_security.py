"""Keys with scopes, health for orchestrators, no server paths in answers, and one input
policy for every path (JSON, multipart, .jsonl)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from qa.api import create_app
from qa.cli import app as cli
from qa.core.config import Settings
from qa.service import QAService, start_service
from tests.helpers import HUANG_DOC, LOCAL

READ, WRITE = "read-key-1", "write-key-1"
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def keyed(service: QAService) -> Iterator[TestClient]:
    settings = service.settings.model_copy(update={"read_keys": [READ], "write_keys": [WRITE]})
    with TestClient(create_app(settings, service=service), base_url=LOCAL) as client:
        yield client


def test_reads_need_a_known_key(keyed: TestClient) -> None:
    body = {"question": "what did Huang say about investors?", "answer": False}
    missing = keyed.post("/query", json=body)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["error"]["code"] == "unauthorized"
    assert keyed.post("/query", json=body, headers=bearer("nope")).status_code == 401
    assert keyed.post("/query", json=body, headers={"Authorization": READ}).status_code == 401
    assert keyed.post("/query", json=body, headers=bearer(READ)).status_code == 200
    assert keyed.post("/query", json=body, headers=bearer(WRITE)).status_code == 200  # write ⊃ read
    assert keyed.get("/documents", headers=bearer(READ)).status_code == 200
    assert keyed.get("/documents").status_code == 401


def test_writes_need_a_write_key(keyed: TestClient) -> None:
    refused = keyed.delete(f"/documents/{HUANG_DOC}", headers=bearer(READ))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert keyed.delete(f"/documents/{HUANG_DOC}").status_code == 401
    unknown = keyed.delete("/documents/no-such-document", headers=bearer(WRITE))
    assert unknown.status_code == 404  # past the key check; nothing was deleted
    assert keyed.get(f"/documents/{HUANG_DOC}", headers=bearer(READ)).status_code == 200


def test_pages_and_liveness_need_no_key(keyed: TestClient) -> None:
    assert keyed.get("/", headers=BROWSER).status_code == 200
    page = keyed.get("/documents", headers=BROWSER)  # the page; its script sends the key
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert keyed.get("/health/live").json() == {"status": "alive"}
    assert keyed.get("/health/ready").status_code == 200
    assert keyed.get("/health").status_code == 401


def test_readiness_waits_for_an_index_and_shows_no_server_path(settings, embedder, tmp_path):
    empty = settings.model_copy(update={"index_dir": tmp_path / "nothing-here"})
    service = start_service(empty, embedder)
    with TestClient(create_app(empty, service=service), base_url=LOCAL) as client:
        ready = client.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["error"]["code"] == "not_ready"
        query = client.post("/query", json={"question": "anything?"})
        assert query.status_code == 503
        for response in (ready, query, client.get("/health")):
            assert str(tmp_path) not in response.text, response.text
            assert "QA_INDEX_DIR" in response.text


def test_serve_beyond_loopback_needs_keys_or_an_explicit_yes(tmp_path, monkeypatch) -> None:
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--index-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "QA_WRITE_KEYS" in result.output and "QA_ALLOW_ANONYMOUS" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"question": "x", "top_k": "5"}, "top_k"),
        ({"question": "x", "top_k": True}, "top_k"),
        ({"question": "x", "top_k": 5.0}, "top_k"),
        ({"question": "\u0000\u0007\u001b"}, "question"),
        ({"question": "x", "answer": "yes"}, "answer"),
    ],
)
def test_query_types_are_strict(client: TestClient, body: dict, field: str) -> None:
    response = client.post("/query", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


def test_a_lone_surrogate_is_refused_everywhere(client: TestClient) -> None:
    question = client.post(
        "/query",
        content=b'{"question": "what \\ud800 now?"}',
        headers={"content-type": "application/json"},
    )
    assert question.status_code == 422 and question.json()["error"]["field"] == "question"
    document = client.post(
        "/documents",
        content=b'{"id": "s1", "text": "texto \\ud800 aqui"}',
        headers={"content-type": "application/json"},
    )
    assert document.status_code == 422 and document.json()["error"]["field"] == "text"
    jsonl = b'{"id": "s2", "text": "texto \\ud800 aqui"}\n'
    upload = client.post("/documents/upload", files={"file": ("bad.jsonl", jsonl)})
    assert upload.status_code == 400 and "bad.jsonl:1" in upload.text
    assert client.get("/documents/s1").status_code == 404
    assert client.get("/documents/s2").status_code == 404


@pytest.mark.parametrize(
    "doc_id", ["../../etc/passwd", "a\\b", "zero\u200bwidth", "bidi\u202eevil", "bom\ufeff"]
)
def test_jsonl_ids_follow_the_id_rules(client: TestClient, doc_id: str) -> None:
    line = json.dumps({"id": doc_id, "text": "Um texto qualquer."}).encode() + b"\n"
    upload = client.post("/documents/upload", files={"file": ("ids.jsonl", line)})
    assert upload.status_code == 400, upload.text
    assert "ids.jsonl:1" in upload.json()["error"]["message"]
    as_json = client.post("/documents", json={"id": doc_id, "text": "Um texto qualquer."})
    assert as_json.status_code in (400, 422), as_json.text


def test_metadata_numbers_must_be_finite(client: TestClient) -> None:
    for raw in (b"NaN", b"Infinity", b"-Infinity"):
        body = b'{"id": "m1", "text": "Um texto.", "metadata": {"x": ' + raw + b"}}"
        response = client.post(
            "/documents", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, (raw, response.text)
    assert client.get("/documents/m1").status_code == 404


def test_another_host_is_refused(client: TestClient) -> None:
    """DNS rebinding: a page of evil.example whose name now resolves to this machine."""
    response = client.get("/documents", headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_host"
    assert client.get("/health/live", headers={"Host": "localhost:8000"}).status_code == 200


def test_pages_of_other_origins_may_not_change_documents(client: TestClient) -> None:
    story = ("nota.txt", b"Uma nota qualquer sobre chips em Manaus.")
    evil = client.post(
        "/documents/upload", files={"file": story}, headers={"Origin": "http://evil.example"}
    )
    assert evil.status_code == 403 and "QA_CORS_ORIGINS" in evil.text
    assert client.get("/documents/nota.txt").status_code == 404
    opaque = client.delete(f"/documents/{HUANG_DOC}", headers={"Origin": "null"})
    assert opaque.status_code == 403
    # reading from another origin is the browser's CORS business, not a change
    body = {"question": "Huang?", "answer": False}
    assert client.post("/query", json=body).status_code == 200
    own = client.post("/query", json=body, headers={"Origin": LOCAL})
    assert own.status_code == 200


def test_listed_origins_get_cors_and_may_write(service: QAService) -> None:
    allowed = "https://app.example"
    settings = service.settings.model_copy(update={"cors_origins": [allowed]})
    with TestClient(create_app(settings, service=service), base_url=LOCAL) as client:
        preflight = client.options(
            "/query",
            headers={
                "Origin": allowed,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == allowed
        missing = client.delete("/documents/no-such-document", headers={"Origin": allowed})
        assert missing.status_code == 404  # past the origin check
        other = client.delete(
            "/documents/no-such-document", headers={"Origin": "https://x.example"}
        )
        assert other.status_code == 403


def test_question_bodies_and_filters_are_bounded(client: TestClient) -> None:
    huge = {"question": "x", "filters": {"doc_id": [f"d{i}" for i in range(20_000)]}}
    too_big = client.post("/query", json=huge)
    assert too_big.status_code == 413 and "65536" in too_big.text
    many = {"question": "x", "filters": {"doc_id": [f"d{i}" for i in range(1001)]}}
    listed = client.post("/query", json=many)
    assert listed.status_code == 422 and listed.json()["error"]["field"] == "filters.doc_id"


def test_a_client_over_its_rate_gets_429_with_retry_after(service: QAService) -> None:
    settings = service.settings.model_copy(
        update={
            "rate_limit": "3/minute",
            "write_rate_limit": "1/minute",
            "read_keys": ["key-a", "key-b"],
            "write_keys": ["key-w"],
            "key_rate_limits": {"key-b": "5/minute"},
            "rate_limit_pause": 0.2,
        }
    )
    with TestClient(create_app(settings, service=service), base_url=LOCAL) as client:
        body = {"question": "Huang?", "answer": False}
        a = bearer("key-a")
        assert [client.post("/query", json=body, headers=a).status_code for _ in range(3)] == [
            200
        ] * 3
        started = time.perf_counter()
        over = client.post("/query", json=body, headers=a)
        assert time.perf_counter() - started >= 0.2  # a refusal waits: floods slow down
        assert over.status_code == 429 and over.json()["error"]["code"] == "too_many_requests"
        assert "3 per 1 minute" in over.json()["error"]["message"]
        assert 1 <= int(over.headers["retry-after"]) <= 60
        # each known key has its own window, key-b a limit of its own
        b = bearer("key-b")
        assert [client.post("/query", json=body, headers=b).status_code for _ in range(6)] == [
            200
        ] * 5 + [429]
        # unknown keys count against their address: inventing keys buys no new window
        assert [
            client.post("/query", json=body, headers=bearer(f"x{i}")).status_code for i in range(4)
        ] == [401] * 3 + [429]
        assert client.post("/query", json=body).status_code == 429
        # writes have their own window
        w = bearer("key-w")
        assert client.delete("/documents/no-such-document", headers=w).status_code == 404
        assert client.delete("/documents/no-such-document", headers=w).status_code == 429
        assert client.get("/health/live").status_code == 200  # probes are never limited
        assert client.get("/", headers={"accept": "text/html"}).status_code == 200
        metrics = client.get("/metrics", headers=bearer("key-w")).text
        assert 'qa_rate_limited_total{limit="read"} 4.0' in metrics
        assert 'qa_rate_limited_total{limit="write"} 1.0' in metrics


def test_refused_clients_are_forgotten_once_their_wait_is_over(monkeypatch) -> None:
    from qa.api import ratelimit

    monkeypatch.setattr(ratelimit, "REMEMBERED", 3)
    monkeypatch.setattr(ratelimit, "LOG_EVERY", 1.0)
    limits = ratelimit.RateLimits(Settings(rate_limit="1/second"))
    for n in range(5):  # five addresses, each over its limit
        who = limits.client(None, f"10.0.0.{n}")
        assert limits.wait("read", who) is None
        assert limits.wait("read", who) is not None
        limits.note_refusal(who)
    assert len(limits.refused_until) == 5  # all still waiting: none forgotten early
    time.sleep(1.1)  # every wait over, every log line old
    who = limits.client(None, "10.0.0.9")
    limits.wait("read", who)
    assert limits.wait("read", who) is not None
    limits.note_refusal(who)
    assert list(limits.refused_until) == [("read", who)] and list(limits.logged_at) == [who]


def test_key_rate_limits_are_key_limit_pairs() -> None:
    pairs = Settings(key_rate_limits="a-key==5/second, other=10/minute")  # type: ignore[arg-type]
    assert pairs.key_rate_limits == {"a-key=": "5/second", "other": "10/minute"}
    with pytest.raises(ValueError, match="not a rate"):
        Settings(key_rate_limits="a-key=often")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="key=limit"):
        Settings(key_rate_limits="5/second")  # type: ignore[arg-type]


def test_requests_carry_an_id_a_log_line_and_metrics(client: TestClient, caplog) -> None:
    caplog.set_level("INFO", logger="qa.access")
    sent = client.get("/health/live", headers={"X-Request-ID": "probe-42"})
    assert sent.headers["x-request-id"] == "probe-42"
    made = client.get("/health/live", headers={"X-Request-ID": "bad id\nwith newline"})
    assert made.headers["x-request-id"] != "bad id\nwith newline"
    assert len(made.headers["x-request-id"]) == 32
    line = next(
        r for r in caplog.records if getattr(r, "fields", {}).get("request_id") == "probe-42"
    )
    assert line.fields["route"] == "/health/live" and line.fields["status"] == 200
    client.post("/query", json={"question": "Huang?", "answer": False})
    text = client.get("/metrics").text
    assert 'qa_requests_total{method="POST",route="/query",status="200"}' in text
    assert "qa_request_seconds_bucket" in text
    for stage in ("embed", "retrieve"):
        assert f'qa_query_stage_seconds_count{{stage="{stage}"}}' in text
    assert "qa_documents 2.0" in text


def test_bad_jsonl_records_can_be_skipped_and_reported(client: TestClient) -> None:
    lines = (
        json.dumps({"id": "ok-1", "text": "Um texto bom sobre chips."})
        + "\n"
        + json.dumps({"id": "../bad", "text": "Outro texto."})
        + "\n"
    ).encode()
    refused = client.post("/documents/upload", files={"file": ("mix.jsonl", lines)})
    assert refused.status_code == 400 and "mix.jsonl:2" in refused.text
    assert client.get("/documents/ok-1").status_code == 404  # nothing was added
    kept = client.post(
        "/documents/upload", params={"skip_invalid": "true"}, files={"file": ("mix.jsonl", lines)}
    )
    assert kept.status_code == 201, kept.text
    body = kept.json()
    assert [d["doc_id"] for d in body["documents"]] == ["ok-1"]
    assert len(body["skipped"]) == 1 and "mix.jsonl:2" in body["skipped"][0]
    assert client.delete("/documents/ok-1").status_code == 200


ENDPOINTS = [  # (method, path, body): one of each kind, none of which changes the collection
    ("POST", "/query", {"json": {"question": "Huang?", "answer": False}}),
    ("GET", "/documents", {}),
    ("GET", f"/documents/{HUANG_DOC}", {}),
    ("GET", "/health", {}),
    ("GET", "/metrics", {}),
    ("DELETE", "/documents/no-such-document", {}),
    ("PUT", "/documents/no-such-document", {"json": {"text": "Um texto."}}),
    ("POST", "/documents", {"json": {"id": "", "text": "Um texto."}}),
]
# what each caller gets: past the guards, a read answers 200 and these writes 404, 404, 4xx
EXPECTED = {
    "none": [401, 401, 401, 401, 401, 401, 401, 401],
    "read": [200, 200, 200, 200, 200, 403, 403, 403],
    "write": [200, 200, 200, 200, 200, 404, 404, 400],
    "write, foreign origin": [200, 200, 200, 200, 200, 403, 403, 403],
}


@pytest.mark.parametrize("caller", list(EXPECTED))
def test_every_endpoint_for_every_caller(keyed: TestClient, caller: str) -> None:
    headers = {}
    if caller != "none":
        headers = bearer(READ if caller == "read" else WRITE)
    if "foreign" in caller:
        headers["Origin"] = "http://evil.example"
    got = [
        keyed.request(method, path, headers=headers, **kwargs).status_code
        for method, path, kwargs in ENDPOINTS
    ]
    assert got == EXPECTED[caller]


def test_serve_beyond_loopback_answers_to_its_own_names(service, monkeypatch) -> None:
    import socket

    import uvicorn

    served: dict[str, object] = {}
    monkeypatch.setattr("qa.service.start_service", lambda settings: service)
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.update(app=app, **kw))
    monkeypatch.setenv("QA_READ_KEYS", READ)
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--port", "8123"])
    assert result.exit_code == 0, result.output
    hosts = served["app"].state.settings.allowed_hosts  # type: ignore[attr-defined]
    assert {"localhost", "127.0.0.1", socket.gethostname()} <= set(hosts)
    assert "answering to the hosts" in result.output and "QA_ALLOWED_HOSTS" in result.output
    with TestClient(served["app"], base_url=f"http://{socket.gethostname()}:8123") as client:
        assert client.get("/health/ready").status_code == 200
        assert client.get("/health", headers=bearer(READ)).status_code == 200  # its own name
    monkeypatch.setenv("QA_ALLOWED_HOSTS", "qa.example.org")  # the operator's list stands
    CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert served["app"].state.settings.allowed_hosts == ["qa.example.org"]  # type: ignore[attr-defined]
