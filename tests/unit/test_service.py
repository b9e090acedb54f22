"""The service: the one boundary, whichever way it is opened."""

from __future__ import annotations

import pytest

from qa.core.errors import DocumentNotFoundError, IndexMismatchError
from qa.service import QAService
from tests.helpers import HUANG_DOC, ModelStandIn


def test_a_model_loaded_on_first_use_is_checked_against_the_index(
    settings, seed_index, monkeypatch
):
    """A command opens the index before it loads the model (`qa list` never does); the
    model it loads for a question must be the one the index was built with."""
    service = QAService.open(settings, writable=False)
    assert next(d.doc_id for d in service.documents()) == HUANG_DOC  # no model needed
    other = ModelStandIn("another/model", 384)
    monkeypatch.setattr("qa.service.models.load_embedder", lambda settings: other)
    with pytest.raises(IndexMismatchError, match=r"built with model .* uses 'another/model'"):
        service.ask("what did Huang say about investors?", 3)


def test_reads_answer_from_one_state(service, seed_index):
    health = service.health()
    assert (health.status, health.documents, health.chunks) == ("ok", 2, len(seed_index.chunks))
    assert service.document(HUANG_DOC).n_chunks == seed_index.documents[HUANG_DOC].n_chunks
    with pytest.raises(DocumentNotFoundError, match="no document with id 'nope'"):
        service.document("nope")
    with service.snapshot() as index:
        assert index.manifest.counts.documents == 2
