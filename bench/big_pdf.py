"""A 300-page PDF through ``qa index``: real news text (fakebr_news records, in order, about
1.9 million characters) printed to A4 pages by the system's Chromium with a running
header and page numbers, then indexed by ``qa index`` in a process of its own: seconds,
peak RSS, passages, and pages read. What a person who drops a long report in a folder
waits for, and how much memory it takes.

``python -m bench.big_pdf`` (needs the test extras, Chromium and ../shared)."""

from __future__ import annotations

import gzip
import html
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT

SHARED = ROOT.parent / "shared" / "benchmarks"
CHARS = 1_900_000  # about 300 A4 pages at 11 pt


def news_html(chars: int) -> str:
    """fakebr_news records in order, ``chars`` characters of text, as one HTML page."""
    parts, total = [], 0
    with gzip.open(SHARED / "fakebr_news" / "corpus.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            text = json.loads(line)["text"]
            parts += [f"<p>{html.escape(p)}</p>" for p in text.split("\n") if p.strip()]
            total += len(text)
            if total >= chars:
                break
    body = "".join(parts)
    head = "<head><meta charset='utf-8'></head>"
    return f"<html>{head}<body style='font-size:11pt'>{body}</body></html>"


def main() -> None:
    import pypdfium2 as pdfium  # type: ignore[import-untyped]

    from qa.testing import print_pdf

    with tempfile.TemporaryDirectory() as folder:
        pdf = Path(folder) / "relatorio.pdf"
        print_pdf(
            news_html(CHARS),
            pdf,
            format="A4",
            display_header_footer=True,
            header_template="<span style='font-size:8px'>Relatório de notícias</span>",
            footer_template="<span class='pageNumber' style='font-size:8px'></span>",
            margin={"top": "40px", "bottom": "40px"},
        )
        pages, size = len(pdfium.PdfDocument(pdf)), pdf.stat().st_size / 1e6
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "qa.cli", "index", str(pdf), "--index-dir", f"{folder}/idx"],
            capture_output=True,
            text=True,
            check=True,
        )
        seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"{pages} pages, {size:.1f} MB")
    print(done.stdout.strip())
    print(f"qa index: {seconds:.0f} s, peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
