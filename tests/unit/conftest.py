"""The unit lane: no child process, no model conversion or export, no browser. The
embedder is a stand-in (:class:`tests.helpers.StandInEmbedder`); a test that starts a
process or loads a model fails here and belongs in ``tests/system``."""

from __future__ import annotations

import multiprocessing
import subprocess
from collections.abc import Iterator

import pytest

from tests.helpers import StandInEmbedder
from tests.lanes import lane_fixtures

settings, embedder, seed_docs, seed_index, service, query_models, client = lane_fixtures(
    lambda settings: StandInEmbedder()
)


def _refuse(what: str):
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a unit test {what}: move it to tests/system/")

    return refuse


@pytest.fixture(scope="module", autouse=True)
def _unit_lane_guard() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess.Popen, "_execute_child", _refuse("starts no child process"))
        patch.setattr(multiprocessing.Process, "start", _refuse("starts no child process"))
        patch.setattr("qa.embed.loader.resolve_model_path", _refuse("loads no model"))
        patch.setattr("qa.embed.export.onnx_export.export_onnx", _refuse("exports no model"))
        yield
