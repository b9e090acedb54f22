"""What a loaded index leaves on disk: vectors and texts read from the segment files when
used; and segments of the earlier layout (JSON rows) still load, to the same state."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

from qa.store import Store
from qa.store.folder import MANIFEST
from qa.store.manifest import checksum
from qa.store.ondisk import FileVectors, SegmentFile
from qa.store.records import TextRef
from qa.store.segments import npy
from qa.vectors.faiss.rows import VectorRows
from tests.helpers import open_index


def test_file_vectors_read_what_numpy_reads(tmp_path):
    matrix = np.random.default_rng(0).standard_normal((37, 8)).astype(np.float32)
    (tmp_path / "v.npy").write_bytes(npy(matrix))
    with open(tmp_path / "v.npy", "rb") as fh:
        vectors = FileVectors(SegmentFile(fh))
        assert vectors.shape == (37, 8) and len(vectors) == 37
        assert np.array_equal(vectors[3:11], matrix[3:11])
        assert np.array_equal(vectors[np.asarray([30, 2, 2, 36])], matrix[[30, 2, 2, 36]])
        assert np.array_equal(vectors[5], matrix[5])
        assert np.array_equal(np.asarray(vectors), matrix)
        assert np.array_equal(np.stack(list(vectors)), matrix)
        with pytest.raises(IndexError):
            vectors[np.asarray([37])]
    (tmp_path / "short.npy").write_bytes(npy(matrix)[:-4])
    with open(tmp_path / "short.npy", "rb") as fh, pytest.raises(ValueError):
        FileVectors(SegmentFile(fh))


def test_vector_rows_keep_file_blocks_and_copy_the_rest(tmp_path):
    rng = np.random.default_rng(1)
    on_disk = rng.standard_normal((10, 4)).astype(np.float32)
    (tmp_path / "v.npy").write_bytes(npy(on_disk))
    rows = VectorRows(4)
    with open(tmp_path / "v.npy", "rb") as fh:
        block = FileVectors(SegmentFile(fh))
        # rows 1 and 4 belong to a deleted document: held in the file, never live
        live = np.asarray([0, 2, 3, 5, 6, 7, 8, 9])
        rows.add(np.arange(100, 108), block, live)
        written = rng.standard_normal((3, 4)).astype(np.float32)
        rows.add(np.asarray([7, 8, 9]), written)
        rows.add(np.asarray([10]), written[:1] * 2)  # joins the tail
        assert rows.blocks[0] is block and len(rows.blocks) == 2 and rows.size == 14
        assert rows.count == 12
        got = rows.take(rows.rows_of(np.asarray([105, 8, 100, 10])))
        assert np.array_equal(got, np.stack([on_disk[7], written[1], on_disk[0], written[0] * 2]))
        rows.remove(np.asarray([100, 8, 12345]))
        assert rows.count == 10 and rows.rows_of(np.asarray([100, 8])).tolist() == [-1, -1]
        ids = rows.ids[rows.live_rows()]
        assert sorted(ids.tolist()) == [7, 9, 10, 101, 102, 103, 104, 105, 106, 107]
        rows.add(np.asarray([101]), written[2:])  # an id given again moves to its new row
        assert np.array_equal(rows.take(rows.rows_of(np.asarray([101]))), written[2:])
        assert rows.count == 10


def test_a_loaded_index_reads_vectors_and_texts_from_its_files(seed_index, settings):
    index = open_index(settings.index_dir)
    for which in ("chunks", "sentences"):
        store = index.stores[which]
        assert all(isinstance(b, FileVectors) for b in store.vectors.blocks)  # type: ignore[attr-defined]
    assert all(isinstance(d.body, TextRef) for d in index.documents.values())
    assert {d: doc.text for d, doc in index.documents.items()} == {
        d: doc.text for d, doc in seed_index.documents.items()
    }
    ids = np.fromiter(seed_index.sentences, dtype=np.int64)
    assert np.allclose(
        index.vectors_of("sentences", ids), seed_index.vectors_of("sentences", ids), atol=1e-6
    )
    # only the searched store keeps a copy for its first pass
    assert len(index.stores["sentences"].resident) == 0  # type: ignore[attr-defined]


def _legacy(store: Store, entry_name: str, files: dict[str, str]) -> dict[str, str]:
    """Rewrite a segment in the earlier layout (JSON rows per passage and sentence, texts
    inside documents.jsonl); returns its files' checksums."""
    folder = store.path / "segments" / entry_name
    index = open_index(store.path)
    docs = [d for d in index.documents.values() if d.segment == entry_name]
    out = {
        "documents.jsonl": "".join(
            json.dumps({**d.info(), "text": d.text}, ensure_ascii=False) + "\n" for d in docs
        ),
        "chunks.jsonl": "".join(
            json.dumps(
                {
                    "id": c,
                    "chunk_id": index.chunks[c].chunk_id,
                    "doc_id": d.doc_id,
                    "char_start": index.chunks[c].char_start,
                    "char_end": index.chunks[c].char_end,
                }
            )
            + "\n"
            for d in docs
            for c in d.chunk_ids
        ),
        "sentences.jsonl": "".join(
            json.dumps(
                {
                    "id": s,
                    "doc_id": d.doc_id,
                    "char_start": index.sentences[s].char_start,
                    "char_end": index.sentences[s].char_end,
                    "chunks": list(index.sentences[s].chunks),
                }
            )
            + "\n"
            for d in docs
            for s in d.sentence_ids
        ),
    }
    chunk_ids = [c for d in docs for c in d.chunk_ids]
    sentence_ids = [s for d in docs for s in d.sentence_ids]
    payload = {name: text.encode("utf-8") for name, text in out.items()}
    payload["chunks.npy"] = npy(index.vectors_of("chunks", chunk_ids))
    payload["sentences.npy"] = npy(index.vectors_of("sentences", sentence_ids))
    if "chunks.companion.npy" in files:
        payload["chunks.companion.npy"] = (folder / "chunks.companion.npy").read_bytes()
    for child in folder.iterdir():
        child.unlink()
    for name, data in payload.items():
        (folder / name).write_bytes(data)
    return {name: hashlib.sha256(data).hexdigest() for name, data in payload.items()}


def test_segments_of_the_earlier_layout_load_to_the_same_state(seed_index, settings, tmp_path):
    shutil.copytree(settings.index_dir, tmp_path / "index")
    store = Store(tmp_path / "index")
    raw = json.loads((store.path / MANIFEST).read_text())
    for segment in raw["segments"]:
        segment["files"] = _legacy(store, segment["name"], segment["files"])
    del raw["checksum"]
    raw["checksum"] = checksum(raw)
    (store.path / MANIFEST).write_text(json.dumps(raw))
    legacy = open_index(store.path)
    assert not (store.path / "segments" / raw["segments"][0]["name"] / "texts.txt").exists()
    assert dict(legacy.chunks) == dict(seed_index.chunks)
    assert dict(legacy.sentences) == dict(seed_index.sentences)
    assert {d: (doc.text, tuple(doc.chunk_ids)) for d, doc in legacy.documents.items()} == {
        d: (doc.text, tuple(doc.chunk_ids)) for d, doc in seed_index.documents.items()
    }
    query = seed_index.vectors_of("chunks", [next(iter(seed_index.chunks))])[0]
    assert [i for i, _ in legacy.search("chunks", query, 5)] == [
        i for i, _ in seed_index.search("chunks", query, 5)
    ]
    assert legacy.search_lexical("investidores Huang", 5) == seed_index.search_lexical(
        "investidores Huang", 5
    )
