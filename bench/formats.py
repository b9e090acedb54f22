"""How fast a PDF's text comes out: PDFium (``pypdfium2``, what qa uses) against the pure
Python ``pypdf``, on a 240-page PDF printed from the seed articles by the system's
Chromium; medians of three runs, and a ratio measured in the same run.

``python -m bench.formats`` (needs the test extras and Chromium)."""

from __future__ import annotations

import io
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import ROOT

CHAPTERS = 60


def printed_pdf(folder: Path) -> bytes:
    from qa.testing import print_pdf

    paragraphs = [
        p
        for path in sorted((ROOT / "seeds").glob("*.txt"))
        for p in path.read_text(encoding="utf-8").split("\n\n")
        if p.strip()
    ]
    chapter = "".join(f"<p>{p}</p>" for p in paragraphs)
    body = "".join(
        f"<section style='break-after: page'><h2>Capítulo {n}</h2>{chapter}</section>"
        for n in range(1, CHAPTERS + 1)
    )
    html = f"<html><head><meta charset='utf-8'></head><body>{body}</body></html>"
    return print_pdf(html, folder / "book.pdf").read_bytes()


def median_seconds(run: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    import pypdf
    import pypdfium2 as pdfium  # type: ignore[import-untyped]

    from qa.ingest.formats import read_pdf

    with tempfile.TemporaryDirectory() as folder:
        data = printed_pdf(Path(folder))

    def with_pdfium() -> list[str]:
        pdf = pdfium.PdfDocument(data)
        try:
            return [pdf[i].get_textpage().get_text_bounded() for i in range(len(pdf))]
        finally:
            pdf.close()

    def with_pypdf() -> list[str]:
        return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages]

    pages = len(with_pdfium())
    fast = median_seconds(with_pdfium)
    slow = median_seconds(with_pypdf)
    ours = median_seconds(lambda: read_pdf(data, "book.pdf"))
    print(f"{pages} pages, {len(data) / 1e6:.2f} MB")
    print(f"pypdfium2 text layer:           {fast:.3f} s ({pages / fast:.0f} pages/s)")
    print(f"pypdf text layer:               {slow:.3f} s ({pages / slow:.0f} pages/s)")
    print(f"read_pdf (pypdfium2 + normalise): {ours:.3f} s")
    print(f"pypdf / pypdfium2: {slow / fast:.1f}x")


if __name__ == "__main__":
    main()
