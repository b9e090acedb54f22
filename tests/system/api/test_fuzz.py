"""The API contract under fuzzing: generated requests (valid and invalid) against the live
app over a scratch copy of the seed index, with a write key so that writes are exercised:
no server error, every response as documented (status, content type, schema)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from qa.api import create_app
from qa.service import start_service
from tests.helpers import build_index

WRITE = "fuzz-write-key"
EXAMPLES = 300  # at most, per operation (one without inputs has one); 1,000 or more in all
# No server error; every status documented; content types and bodies as documented. (Not
# whether every schema-valid request is accepted: the input policy refuses some text a JSON
# schema cannot describe, such as a question made only of unassigned characters.)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def api_schema(settings, embedder, seed_docs, tmp_path_factory):
    scratch = tmp_path_factory.mktemp("fuzz") / "index"
    build_index(seed_docs, embedder, scratch)
    local = settings.model_copy(
        update={
            "index_dir": scratch,
            "write_keys": [WRITE],
            "max_document_bytes": 4000,  # keeps each generated document cheap to embed
            "allowed_hosts": ["testserver"],  # the fuzzer's client names itself so
        }
    )
    app = create_app(local, service=start_service(local, embedder))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_the_api_holds_its_contract(api_schema) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    calls: dict[int, int] = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
        def holds(case) -> None:
            response = case.call_and_validate(
                headers={"Authorization": f"Bearer {WRITE}"}, checks=CHECKS
            )
            calls[response.status_code] = calls.get(response.status_code, 0) + 1

        holds()
    assert sum(calls.values()) >= 1000, calls
    assert any(200 <= status < 300 for status in calls), calls  # not only refusals
