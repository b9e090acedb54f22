"""The seed articles saved as PDF (printed by Chromium), Word, OpenDocument and EPUB, each
set indexed on its own and asked the seed questions (default method), against the .txt
files themselves: what reading a format costs in retrieval and answers.

``python -m bench.seed_formats`` (needs the test extras and Chromium) writes
eval/FORMATS.md. The gold answers are the question set's own; only their document ids
take each format's suffix."""

from __future__ import annotations

import html
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import ROOT, cpu_flags, log, machine, table

QUESTIONS = ROOT / "eval" / "questions.jsonl"
OUT = ROOT / "eval" / "FORMATS.md"


def _paragraphs(path: Path) -> list[str]:
    return [p.strip() for p in path.read_text(encoding="utf-8").splitlines() if p.strip()]


def write_pdf(paragraphs: list[str], path: Path) -> None:
    from qa.testing import print_pdf

    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    print_pdf(f"<html><head><meta charset='utf-8'></head><body>{body}</body></html>", path)


def write_docx(paragraphs: list[str], path: Path) -> None:
    import docx

    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    document.save(path)


def write_odt(paragraphs: list[str], path: Path) -> None:
    import odfdo

    document = odfdo.Document("text")
    for paragraph in paragraphs:
        document.body.append(odfdo.Paragraph(paragraph))
    document.save(path)


def write_epub(paragraphs: list[str], path: Path) -> None:
    """One chapter holding the article."""
    from qa.testing import epub_bytes

    path.write_bytes(epub_bytes(["".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)]))


WRITERS: dict[str, Callable[[list[str], Path], None]] = {
    ".pdf": write_pdf,
    ".docx": write_docx,
    ".odt": write_odt,
    ".epub": write_epub,
}


def questions_for(suffix: str, folder: Path) -> Path:
    """The question set with its documents' ids in ``suffix`` (nothing else changed)."""
    rows = []
    for line in QUESTIONS.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        for answer in row.get("answers", []):
            answer["doc_id"] = answer["doc_id"].removesuffix(".txt") + suffix
        rows.append(json.dumps(row, ensure_ascii=False))
    path = folder / f"questions{suffix}.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def main() -> None:
    from qa.core.config import Settings
    from qa.embed import load_embedder
    from qa.eval.runner import evaluate_seed_set

    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        settings = Settings().model_copy(update={"index_dir": work / "index"})
        embedder = load_embedder(settings)
        seeds = sorted((ROOT / "seeds").glob("*.txt"))
        sets: list[tuple[str, Path, Path]] = [(".txt", ROOT / "seeds", QUESTIONS)]
        for suffix, write in WRITERS.items():
            folder = work / suffix.strip(".")
            folder.mkdir()
            for seed in seeds:
                write(_paragraphs(seed), folder / seed.with_suffix(suffix).name)
            sets.append((suffix, folder, questions_for(suffix, work)))
        for suffix, folder, questions in sets:
            log(f"seed formats: {suffix}")
            local = settings.model_copy(update={"index_dir": work / f"index{suffix}"})
            run = evaluate_seed_set(
                local, questions, folder, ["default"], "", embedder, progress=False
            )
            method = run.runs[0]
            overall, answers = method.groups()["all"], method.answers() or {}
            rows.append(
                [
                    suffix,
                    len(method.scored()),
                    f"{overall['Hit@1']:.3f}",
                    f"{overall['MRR@10']:.3f}",
                    f"{answers.get('answer_accuracy', 0):.3f}",
                    f"{answers.get('answered', 0):.3f}",
                    f"{answers.get('null_unanswerable', 0):.3f}",
                ]
            )
    headers = ["files", "questions", "Hit@1", "MRR@10", "answer holds gold", "answered", "null"]
    report = "\n".join(
        [
            "# The seed set over other formats",
            "",
            f"Produced by `python -m bench.seed_formats` on "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} in "
            f"{time.perf_counter() - started:.0f} s. {machine()}; CPU flags: {cpu_flags()}.",
            "",
            "The two seed articles saved as PDF (printed by Chromium, A5 pages), Word "
            "(python-docx), OpenDocument text (odfdo) and EPUB, each set indexed on its own "
            "and asked the seed questions (passage level, default method); the first row is "
            "the .txt files themselves. *null*: near-topic questions the articles do not "
            "answer that get none. The answer model is the service's (fitted on all folds).",
            "",
            table(headers, rows),
            "",
        ]
    )
    OUT.write_text(report, encoding="utf-8")
    splice_formats(RESULTS)
    print(report)


FORMATS_HEADING = "## The seed set over other formats"
RESULTS = ROOT / "eval" / "RESULTS.md"


def formats_section() -> str:
    """eval/FORMATS.md's table as a section of eval/RESULTS.md ("" before it exists)."""
    if not OUT.is_file():
        return ""
    lines = OUT.read_text(encoding="utf-8").splitlines()
    rows = [line for line in lines if line.startswith("|")]
    return "\n".join(
        [
            FORMATS_HEADING,
            "",
            "The seed articles saved as PDF (printed by Chromium), Word, OpenDocument text and "
            "EPUB, each set indexed on its own and asked the seed questions (passage level, "
            "default method); the first row is the .txt files. From `python -m "
            "bench.seed_formats` (eval/FORMATS.md, with its date and machine).",
            "",
            *rows,
            "",
        ]
    )


def splice_formats(results: Path) -> None:
    """Put :func:`formats_section` in ``results`` in place of the one there (or before its
    vector stores section)."""
    if not results.is_file():
        return
    text, section = results.read_text(encoding="utf-8"), formats_section()
    if FORMATS_HEADING in text:
        head, _, rest = text.partition(FORMATS_HEADING)
        tail = rest[rest.find("\n## ") + 1 :] if "\n## " in rest else ""
    else:
        head, marker, rest = text.partition("## Vector stores")
        tail = marker + rest
    results.write_text(head + section + "\n" + tail, encoding="utf-8")


if __name__ == "__main__":
    main()
