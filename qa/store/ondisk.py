"""Segment files read where they lie: the texts and vectors a loaded index does not hold.

A loaded index keeps an open file for each segment's ``texts.txt``, ``chunks.npy`` and
``sentences.npy`` and reads from it what a query needs — a document's text, the vectors of
a few hundred rows — with ``pread``: the bytes come from the page cache (the kernel's,
shared, given back whenever memory is short) and are copied into the process only for as
long as they are used. Memory-mapping the files instead would charge every page ever read
to the process (on recent kernels a page cache holds large folios, and reading one row
maps its whole folio), so a long-running server would end up "holding" the whole files.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np


class SegmentFile:
    """An open, read-only segment file (closed when no reader refers to it any more; on
    Linux it stays readable after a compaction removes its folder)."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.fd = handle.fileno()
        self.size = os.fstat(self.fd).st_size

    def read(self, start: int, end: int) -> bytes:
        """Bytes ``start:end``."""
        return os.pread(self.fd, end - start, start)

    def read_into(self, buffer: memoryview, offset: int) -> None:
        """Fill ``buffer`` from byte ``offset``."""
        done = 0
        while done < len(buffer):
            got = os.preadv(self.fd, [buffer[done:]], offset + done)
            if got <= 0:
                raise OSError(f"short read in a segment file at byte {offset + done}")
            done += got

    def __getitem__(self, key: slice) -> bytes:
        start, stop, _ = key.indices(self.size)
        return self.read(start, stop)

    def __len__(self) -> int:
        return self.size


def npy_header(head: bytes) -> tuple[tuple[int, ...], np.dtype, int]:
    """Shape, dtype and data offset of an ``.npy`` file from its first bytes (the header is
    at most a few hundred); only C-ordered arrays of plain values, as segments write."""
    stream = io.BytesIO(head)
    version = np.lib.format.read_magic(stream)
    read_header = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    shape, fortran, dtype = read_header(stream)
    if fortran or dtype.hasobject:
        raise ValueError("unexpected array layout in a segment file")
    return tuple(int(n) for n in shape), np.dtype(dtype), stream.tell()


class FileVectors:
    """The rows of an ``.npy`` matrix in a segment file, read on demand (see the module
    docstring). Indexing reads: ``v[a:b]`` a range of rows, ``v[rows]`` (integer array)
    those rows in that order, ``v[i]`` one row; each returns an array of the process's own."""

    def __init__(self, file: SegmentFile) -> None:
        shape, self.dtype, self.offset = npy_header(file.read(0, min(file.size, 4096)))
        if len(shape) != 2:
            raise ValueError("a segment's vectors file is not a matrix")
        self.file = file
        self.shape: tuple[int, int] = (shape[0], shape[1])
        self.row_bytes = self.shape[1] * self.dtype.itemsize
        if self.offset + self.shape[0] * self.row_bytes > file.size:
            raise ValueError("a segment's vectors file is shorter than its header says")

    def __len__(self) -> int:
        return self.shape[0]

    def __iter__(self) -> Iterator[np.ndarray]:
        for at in range(0, self.shape[0], 4096):
            yield from self[at : at + 4096]

    def __getitem__(self, key: int | slice | np.ndarray) -> np.ndarray:
        if isinstance(key, int | np.integer):
            return self[np.asarray([key])][0]
        if isinstance(key, slice):
            start, stop, step = key.indices(self.shape[0])
            if step != 1:
                raise IndexError("vector rows are read in ranges of step 1")
            out = np.empty((max(stop - start, 0), self.shape[1]), dtype=self.dtype)
            if len(out):
                self.file.read_into(out.data.cast("B"), self.offset + start * self.row_bytes)
            return out
        rows = np.asarray(key, dtype=np.int64)
        if len(rows) and (rows.min() < 0 or rows.max() >= self.shape[0]):
            raise IndexError("vector row out of range")
        out = np.empty((len(rows), self.shape[1]), dtype=self.dtype)
        view = out.data.cast("B")
        size, fd, base = self.row_bytes, self.file.fd, self.offset
        for i, row in enumerate(rows.tolist()):
            os.preadv(fd, [view[i * size : (i + 1) * size]], base + row * size)
        return out

    def __array__(self, dtype: np.dtype | None = None, copy: bool | None = None) -> np.ndarray:
        rows = self[0 : self.shape[0]]
        return rows if dtype is None else rows.astype(dtype)
