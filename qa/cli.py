"""Command line: ``qa index``, ``qa add``, ``qa remove``, ``qa list``, ``qa ask``, ``qa serve``,
``qa eval``."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Annotated, get_args

import typer

from qa.core.config import Settings
from qa.core.errors import QAError

app = typer.Typer(
    help="Multilingual retrieval QA: index articles, ask questions, serve the HTTP API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

IndexDirOpt = Annotated[
    Path | None, typer.Option("--index-dir", help="Index folder (default: QA_INDEX_DIR or index/).")
]


def _settings(index_dir: Path | None) -> Settings:
    try:
        settings = Settings()
    except ValueError as exc:
        _fail(f"invalid settings: {exc}".replace("\n", " "))
    if index_dir is not None:
        settings = settings.model_copy(update={"index_dir": index_dir})
    return settings


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


def _quiet_libraries() -> None:
    for name in ("sentence_transformers", "transformers", "httpx", "huggingface_hub"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
    except ImportError:  # pragma: no cover - transformers is a dependency
        pass


@app.command()
def index(
    source: Annotated[
        list[Path] | None,
        typer.Option("--source", "-s", help="Folder, text file or .jsonl to index (repeatable)."),
    ] = None,
    index_dir: IndexDirOpt = None,
) -> None:
    """Build the index from articles (default sources: QA_SOURCES or seeds/)."""
    from qa.collection import build_index
    from qa.embed import load_embedder
    from qa.ingest import load_documents
    from qa.service import ann_policy
    from qa.vectors import make_backend

    settings = _settings(index_dir)
    sources = source or settings.sources
    _quiet_libraries()
    try:
        started = time.perf_counter()
        documents = load_documents(sources)
        embedder = load_embedder(settings)
        built = build_index(
            documents,
            embedder,
            settings.index_dir,
            settings.chunk_size,
            settings.chunk_overlap,
            progress=sys.stderr.isatty(),
            ann=ann_policy(settings),
            backend=make_backend(settings),
        )
    except QAError as exc:
        _fail(str(exc))
    counts = built.manifest["counts"]
    typer.echo(
        f"indexed {counts['documents']} documents as {counts['chunks']} passages into "
        f"{settings.index_dir}/ in {time.perf_counter() - started:.1f} s"
    )


def _writer(settings: Settings):
    from qa.embed import load_embedder
    from qa.service import QAService

    _quiet_libraries()
    service = QAService(settings, load_embedder(settings))
    service.reload_index()
    return service


@app.command()
def add(
    paths: Annotated[
        list[Path], typer.Argument(help="Article files (.txt, .md, .html, .jsonl) or folders.")
    ],
    index_dir: IndexDirOpt = None,
) -> None:
    """Add or update articles in the index (only new or changed text is embedded)."""
    from qa.ingest import HTML_SUFFIXES, documents_from_file, iter_source, read_bytes

    settings = _settings(index_dir)
    try:
        docs = []
        for path in paths:
            if path.is_file() and path.suffix.lower() in HTML_SUFFIXES:
                docs += documents_from_file(path.name, read_bytes(path), str(path))
            else:
                docs += list(iter_source(path))
        started = time.perf_counter()
        results = _writer(settings).upsert(docs)
    except QAError as exc:
        _fail(str(exc))
    for r in results:
        typer.echo(f"{r.status:9} {r.doc_id} ({r.chunks} passages)")
    typer.echo(f"{len(results)} documents in {time.perf_counter() - started:.1f} s")


@app.command()
def remove(
    doc_ids: Annotated[list[str], typer.Argument(help="Ids of the documents to delete.")],
    index_dir: IndexDirOpt = None,
) -> None:
    """Delete documents from the index (all or nothing: an unknown id changes nothing)."""
    settings = _settings(index_dir)
    try:
        results = _writer(settings).delete(doc_ids)
    except QAError as exc:
        _fail(str(exc))
    for r in results:
        typer.echo(f"deleted {r.doc_id}")


@app.command()
def reindex(
    ann: Annotated[
        str | None,
        typer.Option(
            "--ann",
            help="Vector index kind: auto, flat, hnsw, ivf, pq or rabitq (default: QA_ANN).",
        ),
    ] = None,
    nprobe: Annotated[
        int | None, typer.Option("--nprobe", min=1, help="ivf: lists read per query.")
    ] = None,
    ef_search: Annotated[
        int | None,
        typer.Option("--ef-search", min=1, help="hnsw: candidates kept while searching."),
    ] = None,
    candidates: Annotated[
        int | None,
        typer.Option(
            "--candidates", min=10, help="pq, rabitq: estimates re-scored exactly per query."
        ),
    ] = None,
    index_dir: IndexDirOpt = None,
) -> None:
    """Rebuild the vector indexes from the stored vectors (nothing is re-embedded)."""
    settings = _settings(index_dir)
    kinds = get_args(Settings.model_fields["ann"].annotation)
    if ann is not None and ann not in kinds:
        _fail(f"--ann must be one of {', '.join(kinds)}, not {ann!r}")
    update: dict[str, object] = {"ann": ann or settings.ann}
    if nprobe is not None:
        update["ann_nprobe"] = nprobe
    if ef_search is not None:
        update["ann_ef_search"] = ef_search
    if candidates is not None:
        update["ann_candidates"] = candidates
    settings = settings.model_copy(update=update)
    try:
        started = time.perf_counter()
        service = _writer(settings)
        collection = service.collection
        if collection is None:
            _fail(service.index_error or "no index")
        assert collection is not None
        ann_record = collection.reindex()
    except QAError as exc:
        _fail(str(exc))
    for which, record in ann_record.items():
        spec = ", ".join(f"{k}={v}" for k, v in record.items() if k not in ("centroids", "graph"))
        typer.echo(f"{which:9} {spec}")
    typer.echo(f"rebuilt in {time.perf_counter() - started:.1f} s")


@app.command()
def migrate(
    to: Annotated[str, typer.Option("--to", help="Where the vectors go: faiss or milvus.")],
    index_dir: IndexDirOpt = None,
) -> None:
    """Move the index's vectors to another vector store (FAISS <-> Milvus), without
    re-embedding; texts, offsets and metadata stay in the index folder. Milvus is reached
    as QA_MILVUS_URI / QA_MILVUS_TOKEN say."""
    from qa.collection import Collection
    from qa.embed import load_embedder
    from qa.service import ann_policy
    from qa.store import Store
    from qa.vectors import backend_of, make_backend

    settings = _settings(index_dir)
    kinds = get_args(Settings.model_fields["vector_store"].annotation)
    if to not in kinds:
        _fail(f"--to must be one of {', '.join(kinds)}, not {to!r}")
    _quiet_libraries()
    try:
        started = time.perf_counter()
        held = backend_of(Store(settings.index_dir).read_manifest())
        collection = Collection.open(
            settings.index_dir,
            load_embedder(settings),
            settings.chunk_size,
            settings.chunk_overlap,
            ann_policy(settings),
            make_backend(settings, held),
        )
        record = collection.migrate(make_backend(settings, to))  # type: ignore[arg-type]
    except QAError as exc:
        _fail(str(exc))
    counts = collection.index.manifest["counts"]
    where = ", ".join(f"{k}={v}" for k, v in record.items() if k != "kind")
    typer.echo(
        f"moved {counts['chunks']} passage and {counts['sentences']} sentence vectors from "
        f"{held} to {to}{f' ({where})' if where else ''} in {time.perf_counter() - started:.1f} s"
    )


@app.command("list")
def list_documents(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    index_dir: IndexDirOpt = None,
) -> None:
    """List the indexed documents: id, passages, title."""
    from qa.collection import open_index
    from qa.vectors import make_backend

    settings = _settings(index_dir)
    try:
        index = open_index(settings.index_dir, backend=make_backend(settings))
    except QAError as exc:
        _fail(str(exc))
    for d in index.documents.values():
        if as_json:
            row = {k: v for k, v in d.record().items() if k != "text"} | {"chunks": d.n_chunks}
            typer.echo(json.dumps(row, ensure_ascii=False))
        else:
            typer.echo(f"{d.doc_id}\t{d.n_chunks}\t{d.title}")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question, in any language.")],
    k: Annotated[int, typer.Option("-k", "--top-k", min=1, max=50, help="Passages to return.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON response.")] = False,
    index_dir: IndexDirOpt = None,
) -> None:
    """Print the passages that best answer QUESTION, with their citations."""
    from pydantic import ValidationError

    from qa.api.routes.query import to_response
    from qa.api.schemas import QueryRequest
    from qa.service import QAService

    settings = _settings(index_dir)
    try:
        request = QueryRequest(question=question, top_k=k)
    except ValidationError as exc:
        _fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    _quiet_libraries()
    try:
        service = QAService.start(settings)
        response = to_response(service.ask(request.question, request.top_k))
    except QAError as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps(response.model_dump(), ensure_ascii=False, indent=2))
        return
    for r in response.results:
        c = r.citation
        typer.echo(
            f"{r.rank}. [{r.score:.3f}] {c.doc_id} chars {c.char_start}-{c.char_end} — {c.title}"
        )
        typer.echo("   " + " ".join(r.text.split()))
        typer.echo("")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default: QA_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: QA_PORT).")] = None,
    index_dir: IndexDirOpt = None,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    from qa.api import create_app

    settings = _settings(index_dir)
    _quiet_libraries()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        from qa.service import QAService

        service = QAService.start(settings)
    except QAError as exc:
        _fail(str(exc))
    uvicorn.run(
        create_app(settings, service=service),
        host=host or settings.host,
        port=port or settings.port,
        log_level="info",
    )


@app.command("eval")
def evaluate(
    questions: Annotated[
        Path, typer.Option("--questions", help="Seed question set (JSONL), used without --beir.")
    ] = Path("eval/questions.jsonl"),
    seeds: Annotated[
        Path, typer.Option("--seeds", help="The articles the question set is about.")
    ] = Path("seeds"),
    beir: Annotated[
        Path | None,
        typer.Option("--beir", help="BEIR-format folder (corpus.jsonl, queries.jsonl, qrels.tsv)."),
    ] = None,
    method: Annotated[
        list[str] | None,
        typer.Option("--method", "-m", help="dense, bm25 or default (repeat to compare)."),
    ] = None,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="With --beir: rebuild the benchmark's index.")
    ] = False,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the results as JSON to this file.")
    ] = None,
    index_dir: IndexDirOpt = None,
) -> None:
    """Score retrieval on the seed question set, or on a BEIR benchmark with --beir.

    Each collection gets an index of its own under <index-dir>/benchmarks/, built on first
    use and reused while its content and the settings are unchanged."""
    from qa import evaluation
    from qa.search import METHODS

    settings = _settings(index_dir)
    methods = method or ["default"]
    for m in methods:
        if m != "default" and m not in METHODS:
            _fail(f"unknown method {m!r}; choose from default, {', '.join(METHODS)}")
    command = "qa " + " ".join(sys.argv[1:]) if sys.argv[0].endswith("qa") else "qa eval"
    _quiet_libraries()
    try:
        from qa.embed import load_embedder

        embedder = load_embedder(settings)
        if beir is not None:
            run = evaluation.evaluate_beir(
                settings, embedder, beir, methods, command, rebuild=rebuild
            )
        else:
            run = evaluation.evaluate_seed_set(
                settings, embedder, questions, seeds, methods, command
            )
    except QAError as exc:
        _fail(str(exc))
    typer.echo(evaluation.render_text(run))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(evaluation.to_json(run), ensure_ascii=False, indent=1))


def main() -> None:  # console-script entry point
    app()


if __name__ == "__main__":
    main()
