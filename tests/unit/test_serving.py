"""How qa ask finds a running qa serve: the note it leaves in the index folder."""

from __future__ import annotations

import json

from qa.service.serving import NOTE, announced, local_url, serving_url


def test_a_serving_process_announces_itself_while_it_runs(tmp_path) -> None:
    assert serving_url(tmp_path) is None
    with announced(tmp_path, local_url("0.0.0.0", 8123)):
        assert serving_url(tmp_path) == "http://127.0.0.1:8123"
    assert not (tmp_path / NOTE).exists() and serving_url(tmp_path) is None


def test_a_dead_or_garbled_note_is_ignored(tmp_path) -> None:
    note = tmp_path / NOTE
    dead = 2**22 + 12_345  # past Linux's largest pid_max: no such process
    note.write_text(json.dumps({"url": "http://127.0.0.1:1", "pid": dead}))
    assert serving_url(tmp_path) is None
    for garbled in ("{", "[]", '{"pid": "x", "url": 1}', '{"pid": 1, "url": "file:///etc"}'):
        note.write_text(garbled)
        assert serving_url(tmp_path) is None, garbled


def test_no_folder_no_note(tmp_path) -> None:
    with announced(tmp_path / "missing", "http://127.0.0.1:1"):
        assert not (tmp_path / "missing").exists()
    assert (
        local_url("::", 80) == "http://[::1]:80" and local_url("10.0.0.5", 9) == "http://10.0.0.5:9"
    )
