"""Command line: ``qa index``, ``add``, ``remove``, ``list``, ``ask``, ``reindex``,
``migrate``, ``check``, ``serve``, ``mcp`` and ``eval``, each a thin call into
:class:`qa.service.QAService` (or its modules).

A failure prints one line ``error: …`` on stderr and exits with code 1; the index is left
as it was.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar, get_args

import typer

from qa.core.config import AnnKind, Method, Settings, VectorStoreKind
from qa.core.errors import QAError

if TYPE_CHECKING:
    from qa.service import bulk

app = typer.Typer(
    help="Multilingual retrieval QA: index articles, ask questions, serve the HTTP API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from qa import __version__

        typer.echo(f"qa {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Multilingual retrieval QA: index articles, ask questions, serve the HTTP API."""


IndexDirOpt = Annotated[
    Path | None, typer.Option("--index-dir", help="Index folder (default: QA_INDEX_DIR or index/).")
]
StrictOpt = Annotated[
    bool,
    typer.Option(
        "--strict",
        help="Fail on a folder's file that cannot be indexed (unsupported, scanned, "
        "encrypted, damaged) instead of naming it and going on.",
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        help="Embed and write on this many Ray workers (the collection in a Milvus server).",
    ),
]
ClusterOpt = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        help="With --workers: the Ray cluster to run on (ray://head:10001, auto; default "
        "RAY_ADDRESS, else a local one started for the run).",
    ),
]
T = TypeVar("T")


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


def _settings(index_dir: Path | None, **changes: object) -> Settings:
    try:
        settings = Settings()
    except ValueError as exc:
        _fail(f"invalid settings: {exc}".replace("\n", " "))
    updates = {k: v for k, v in changes.items() if v is not None}
    if index_dir is not None:
        updates["index_dir"] = index_dir
    return settings.model_copy(update=updates)


def _report_passed(passed: list[str] | None, skipped: list[str] | None = None) -> None:
    """Name every bad record left out (``skipped``), and every file a folder walk left
    out, and why (each once: the sources are read twice)."""
    for problem in dict.fromkeys(skipped or []):
        typer.echo(f"skipped: {problem}", err=True)
    passed = list(dict.fromkeys(passed or []))
    for problem in passed:
        typer.echo(f"not indexed: {problem}", err=True)
    if passed:
        typer.echo(f"{len(passed)} files not indexed (--strict makes this an error)", err=True)


@contextmanager
def _progress(what: str) -> Iterator[tuple[Callable[[], None] | None, bulk.Progress | None]]:
    """On a terminal: a count of the documents read first (with the rate), then a bar of
    those written, with the rate and the time left; elsewhere, nothing."""
    if not sys.stderr.isatty():
        yield None, None
        return
    from tqdm import tqdm

    bars: dict[str, tqdm[Any]] = {}

    def read_one() -> None:
        if "read" not in bars:
            bars["read"] = tqdm(desc="Reading", unit="doc", dynamic_ncols=True, leave=False)
        bars["read"].update(1)

    def advance(done: int, total: int) -> None:
        if "write" not in bars:
            if "read" in bars:
                bars.pop("read").close()
            bars["write"] = tqdm(desc=what, total=total, unit="doc", dynamic_ncols=True)
        bars["write"].update(done)

    try:
        yield read_one, advance
    finally:
        for bar in bars.values():
            bar.close()


def _run(action: Callable[[], T]) -> T:
    """``action()``, its product errors printed as one line."""
    _quiet_libraries()
    try:
        return action()
    except QAError as exc:
        _fail(str(exc))


def _quiet_libraries() -> None:
    for name in ("sentence_transformers", "transformers", "httpx", "huggingface_hub"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()


def _choice(value: str | None, kinds: tuple[str, ...], option: str) -> str | None:
    if value is not None and value not in kinds:
        _fail(f"{option} must be one of {', '.join(kinds)}, not {value!r}")
    return value


@app.command()
def index(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Folders or files to index (as --source).")
    ] = None,
    source: Annotated[
        list[Path] | None,
        typer.Option("--source", "-s", help="Folder or file to index (repeatable)."),
    ] = None,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace", help="Rebuild even if the index holds documents the sources do not."
        ),
    ] = False,
    strict: StrictOpt = False,
    index_dir: IndexDirOpt = None,
) -> None:
    """Build the index from articles, in place of the one there was.

    An index holding documents the sources do not (added with `qa add` or over HTTP) is
    left alone unless --replace. Default sources: QA_SOURCES (seeds/). A folder's files
    that cannot be indexed are named on stderr with the reason (an error with --strict)."""
    from qa.ingest import iter_documents
    from qa.service import QAService, bulk

    settings = _settings(index_dir)
    started = time.perf_counter()
    passed: list[str] | None = None if strict else []
    sources = [*(paths or []), *(source or [])] or settings.sources
    service = QAService(settings)
    with _progress("Indexing") as (read_one, progress):
        report = _run(
            lambda: bulk.build(
                service,
                lambda: iter_documents(sources, passed),
                replace,
                progress,
                read_one,
                detail=progress is not None,
            )
        )
    _report_passed(passed)
    if report.resumed:
        typer.echo(f"resumed an interrupted build: {report.resumed} documents were in", err=True)
    health = service.health()
    typer.echo(
        f"indexed {health.documents} documents as {health.chunks} passages into "
        f"{service.where} in {time.perf_counter() - started:.1f} s"
    )


def _check_workers(settings: Settings, workers: int | None, cluster: str | None) -> None:
    """``--workers`` and ``--cluster`` make sense together, and for the settings."""
    from qa.service.cluster import check_cluster_settings

    if cluster is not None and workers is None:
        _fail("--cluster needs --workers (how many workers to run)")
    if workers is not None:
        _run(lambda: check_cluster_settings(settings))


@app.command()
def add(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Files (.txt .md .html .pdf .docx .pptx .odt .ods .odp .epub .xlsx .csv "
            ".jsonl) or folders."
        ),
    ],
    skip_invalid: Annotated[
        bool,
        typer.Option(
            "--skip-invalid",
            help="Leave out bad .jsonl records (each reported) instead of failing.",
        ),
    ] = False,
    strict: StrictOpt = False,
    workers: WorkersOpt = None,
    cluster: ClusterOpt = None,
    index_dir: IndexDirOpt = None,
) -> None:
    """Add or update articles (only new or changed text is embedded). A bad .jsonl record
    fails the whole command, naming its line, unless --skip-invalid."""
    from qa.ingest import iter_source
    from qa.service import QAService, bulk
    from qa.service.cluster import add_on_cluster

    settings = _settings(index_dir)
    started = time.perf_counter()
    skipped: list[str] | None = [] if skip_invalid else None
    passed: list[str] | None = None if strict else []

    def read() -> Iterator[Any]:
        return (doc for path in paths for doc in iter_source(path, skipped, passed))

    _check_workers(settings, workers, cluster)
    with _progress("Adding") as (read_one, progress):
        found = _run(lambda: bulk.survey(read(), read_one))  # all read before any write
        if not found.ids:
            _fail("no documents to add in " + ", ".join(str(p) for p in paths))
        service = _run(lambda: QAService.open(settings, missing_ok=True))
        into = (
            service.where if service.collection is not None else f"a new index in {service.where}"
        )
        if workers is None:
            results = _run(lambda: bulk.add(service, read(), found, progress, bool(progress)))
        else:
            results, wrote = _run(
                lambda: add_on_cluster(service, read(), found, workers, cluster, progress)
            )
            each = ", ".join(f"{name}: {n} batches" for name, n in sorted(wrote.items()))
            typer.echo(f"written by {len(wrote)} workers ({each})", err=True)
    _report_passed(passed, skipped)
    for r in results:
        typer.echo(f"{r.status:9} {r.doc_id} ({r.chunks} passages)")
    left_out = f", {len(set(skipped))} bad records skipped" if skipped else ""
    typer.echo(
        f"{len(results)} documents into {into} in {time.perf_counter() - started:.1f} s{left_out}"
    )


@app.command()
def remove(
    doc_ids: Annotated[list[str], typer.Argument(help="Ids of the documents to delete.")],
    index_dir: IndexDirOpt = None,
) -> None:
    """Delete documents (all or nothing: an unknown id changes nothing)."""
    from qa.service import QAService

    settings = _settings(index_dir)
    service = _run(lambda: QAService.open(settings))
    for r in _run(lambda: service.delete(doc_ids)):
        typer.echo(f"deleted {r.doc_id}")
    typer.echo(f"from {service.where}")


@app.command("list")
def list_documents(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    index_dir: IndexDirOpt = None,
) -> None:
    """List the indexed documents: id, passages, title."""
    from qa.service import QAService

    settings = _settings(index_dir)
    documents = _run(lambda: QAService.open(settings, writable=False).documents())
    if not as_json:
        typer.echo("id\tpassages\ttitle")
    for d in documents:
        if as_json:
            row = d.info() | {"chunks": d.n_chunks}
            typer.echo(json.dumps(row, ensure_ascii=False))
        else:
            typer.echo(f"{d.doc_id}\t{d.n_chunks}\t{d.title}")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question, in any language.")],
    k: Annotated[
        int | None, typer.Option("-k", "--top-k", help="Passages to return: 1-50 [default: 5].")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON response.")] = False,
    no_answer: Annotated[
        bool, typer.Option("--no-answer", help="Passages only: skip the answer stage.")
    ] = False,
    local: Annotated[
        bool, typer.Option("--local", help="Answer in this process even if qa serve runs.")
    ] = False,
    index_dir: IndexDirOpt = None,
) -> None:
    """Print the answer to QUESTION (or that the articles don't say) and the passages
    that best answer it, with their citations. A `qa serve` running on the index answers
    at once; otherwise this process loads the model and the index (a few seconds)."""
    from qa.service.limits import DEFAULT_TOP_K, check_top_k, clean_question

    settings = _settings(index_dir)
    try:
        question, k = clean_question(question), check_top_k(DEFAULT_TOP_K if k is None else k)
    except ValueError as exc:
        _fail(str(exc))
    body = None if local else _ask_running_server(settings, question, k, not no_answer)
    if body is None:
        from qa.service import QAService
        from qa.service.replies import reply_body

        if sys.stderr.isatty():
            typer.echo(
                "loading the model and the index (a few seconds; a `qa serve` running on "
                "this index answers at once)…",
                err=True,
            )
        reply = _run(lambda: QAService.open(settings).ask(question, k, with_answer=not no_answer))
        body = reply_body(reply)
    if as_json:
        typer.echo(json.dumps(body, ensure_ascii=False, indent=2))
        return
    a = body["answer"]
    if a is not None:
        c = a["citation"]
        if a["translation"] is not None:
            typer.echo(f"Answer ({a['translation']['lang']}): {a['translation']['text']}")
        typer.echo(f"Answer: {' '.join(a['text'].split())}")
        typer.echo(
            f"   {c['doc_id']} chars {c['char_start']}-{c['char_end']} — {c['title']} "
            f"(confidence {a['confidence']:.2f})\n"
        )
    elif not no_answer:
        typer.echo("The articles don't say. The closest passages:\n")
    for r in body["results"]:
        c = r["citation"]
        typer.echo(
            f"{r['rank']}. [{r['score']:.3f}] {c['doc_id']} chars {c['char_start']}-"
            f"{c['char_end']} — {c['title']}"
        )
        typer.echo("   " + " ".join(r["text"].split()))
        typer.echo("")


def _ask_running_server(
    settings: Settings, question: str, k: int, with_answer: bool
) -> dict[str, Any] | None:
    """The reply of a live ``qa serve`` on the index (``None``: none answers)."""
    from qa.service.serving import ask_server, serving_url

    url = serving_url(settings.index_dir)
    if url is None:
        return None
    key = next(iter([*settings.read_keys, *settings.write_keys]), None)
    try:
        return ask_server(url, question, k, with_answer, key)
    except ValueError as exc:
        _fail(str(exc))
    except OSError:
        return None


@app.command()
def snapshot(
    dest: Annotated[Path, typer.Argument(help="A new (or empty) folder for the copy.")],
    index_dir: IndexDirOpt = None,
) -> None:
    """Copy the index consistently, even while it is being served and written (writes wait
    for the copy). Serve the copy with --index-dir DEST."""
    from qa.service import QAService

    settings = _settings(index_dir)
    started = time.perf_counter()
    manifest = _run(lambda: QAService(settings).copy_index(dest))
    typer.echo(
        f"copied generation {manifest.generation} ({manifest.counts.documents} documents, "
        f"{manifest.counts.chunks} passages) to {dest}/ in {time.perf_counter() - started:.1f} s"
    )


@app.command()
def reindex(
    ann: Annotated[
        str | None,
        typer.Option("--ann", help="Vector index kind: auto, flat, hnsw, ivf, pq or rabitq."),
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
        typer.Option("--candidates", min=10, help="pq, rabitq: estimates re-scored per query."),
    ] = None,
    index_dir: IndexDirOpt = None,
) -> None:
    """Rebuild the vector indexes from the stored vectors (nothing is re-embedded).

    Options not given come from the QA_ANN* settings."""
    from qa.service import QAService

    _choice(ann, get_args(AnnKind), "--ann")
    settings = _settings(
        index_dir, ann=ann, ann_nprobe=nprobe, ann_ef_search=ef_search, ann_candidates=candidates
    )
    started = time.perf_counter()
    manifest = _run(lambda: QAService.open(settings).reindex())
    for which, record in manifest.vectors.state().items():
        if isinstance(record, dict):
            spec = ", ".join(f"{k}={v}" for k, v in record.items() if not isinstance(v, dict))
        else:
            spec = str(record)
        typer.echo(f"{which:11} {spec}")
    typer.echo(f"rebuilt in {time.perf_counter() - started:.1f} s")


@app.command()
def migrate(
    to: Annotated[str, typer.Option("--to", help="Where the vectors go: faiss or milvus.")],
    index_dir: IndexDirOpt = None,
) -> None:
    """Move the index's vectors between FAISS and Milvus, without re-embedding.

    Texts, offsets and metadata stay in the index folder. Milvus is reached as
    QA_MILVUS_URI / QA_MILVUS_TOKEN say. With a Milvus server (replica mode) the whole
    collection is copied into the Milvus collection QA_MILVUS_COLLECTION names."""
    from qa.service import QAService

    _choice(to, get_args(VectorStoreKind), "--to")
    settings = _settings(index_dir)
    started = time.perf_counter()
    service = _run(lambda: QAService.open(settings, follow_index=True))
    held = service.health().vector_store
    manifest = _run(lambda: service.migrate(to, sys.stderr.isatty()))
    counts = manifest.counts
    if to == "milvus" and service.where != f"{settings.index_dir}/":
        typer.echo(
            f"copied {counts.documents} documents ({counts.chunks} passages, "
            f"{counts.sentences} sentences) from {settings.index_dir}/ into {service.where} in "
            f"{time.perf_counter() - started:.1f} s"
        )
        return
    where = ", ".join(f"{k}={v}" for k, v in manifest.vectors.state().items() if k == "collections")
    typer.echo(
        f"moved {manifest.counts.chunks} passage and {manifest.counts.sentences} sentence "
        f"vectors from {held} to {to}{f' ({where})' if where else ''} in "
        f"{time.perf_counter() - started:.1f} s"
    )


@app.command()
def check(
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Keep what can be read in a new commit (naming what is dropped) and rebuild "
            "the vector store from the stored vectors.",
        ),
    ] = False,
    index_dir: IndexDirOpt = None,
) -> None:
    """Verify the index folder (or the collection held in Milvus): manifest, checksums,
    every record, passages inside their texts, vectors. Exit code 1 when something is
    wrong (and not repaired)."""
    from qa.service import maintenance

    settings = _settings(index_dir)
    report = _run(lambda: maintenance.check(settings))
    typer.echo(
        f"checked {report.where}: {report.documents} documents, {report.passages} "
        f"passages, {report.sentences} sentences read whole"
    )
    for problem in report.problems:
        typer.echo(f"problem: {problem}")
    if report.ok:
        typer.echo("no problem found")
        return
    if not repair:
        drops = f" (it drops {len(report.lost)} documents: {report.lost_named()})"
        drops = drops if report.lost else ""
        _fail(f"{len(report.problems)} problems: `qa check --repair` keeps what can be read{drops}")
    for line in _run(lambda: maintenance.repair(settings, report)):
        typer.echo(line)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default: QA_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: QA_PORT).")] = None,
    index_dir: IndexDirOpt = None,
) -> None:
    """Serve the web page and the HTTP API (OpenAPI docs at /docs).

    Beyond loopback it needs keys (QA_WRITE_KEYS, QA_READ_KEYS) or QA_ALLOW_ANONYMOUS=true."""
    import uvicorn

    from qa.api import create_app
    from qa.api.observe import configure_logging
    from qa.api.security import anonymous_refusal, own_hosts
    from qa.service import start_service
    from qa.service.serving import local_url

    settings = _settings(index_dir)
    bind = host or settings.host
    if refusal := anonymous_refusal(settings, bind):
        _fail(refusal)
    if "allowed_hosts" not in settings.model_fields_set and (mine := own_hosts(bind)):
        hosts = list(dict.fromkeys([*settings.allowed_hosts, *mine]))
        settings = settings.model_copy(update={"allowed_hosts": hosts})
        typer.echo(
            f"answering to the hosts {', '.join(hosts)} (QA_ALLOWED_HOSTS sets others)", err=True
        )
    configure_logging(settings.log_format == "json")
    service = _run(lambda: start_service(settings))
    port = port or settings.port
    uvicorn.run(
        create_app(settings, service=service, url=local_url(bind, port)),  # for qa ask
        host=bind,
        port=port,
        log_level="info",
        log_config=None,  # the process's own handlers (JSON lines by default)
        access_log=False,  # the service logs each request itself, with its id
    )


@app.command("mcp")
def mcp_stdio(
    writes: Annotated[
        bool, typer.Option("--writes", help="Also offer add_document and delete_document.")
    ] = False,
    index_dir: IndexDirOpt = None,
) -> None:
    """Serve the index to a local agent over MCP on stdin/stdout (tools: ask, search,
    get_document, list_documents). Over the network, `qa serve` has the same at /mcp."""
    from qa.api.mcp import build_mcp
    from qa.service import start_service

    settings = _settings(index_dir)
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)  # stdout carries messages
    service = _run(lambda: start_service(settings))
    try:
        build_mcp(lambda: service, settings, writes=writes).run("stdio")
    finally:
        service.close()


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
        typer.Option("--method", "-m", help="hybrid, dense, bm25 or default (repeat to compare)."),
    ] = None,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="With --beir: rebuild the benchmark's index.")
    ] = False,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the results as JSON to this file.")
    ] = None,
    index_dir: IndexDirOpt = None,
) -> None:
    """Score retrieval on the seed question set, or on a BEIR benchmark (--beir).

    Each collection gets an index of its own under <index-dir>/benchmarks/, built on first
    use and reused while its content and the settings are unchanged."""
    from qa.eval import report, runner

    settings = _settings(index_dir)
    methods = method or ["default"]
    for m in methods:
        _choice(m, ("default", *get_args(Method)), "--method")
    command = "qa " + " ".join(sys.argv[1:]) if sys.argv[0].endswith("qa") else "qa eval"
    if beir is not None:
        run = _run(lambda: runner.evaluate_beir(settings, beir, methods, command, rebuild=rebuild))
    else:
        run = _run(lambda: runner.evaluate_seed_set(settings, questions, seeds, methods, command))
    typer.echo(report.render_text(run))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report.to_json(run), ensure_ascii=False, indent=1))


def main() -> None:  # console-script entry point
    app()


if __name__ == "__main__":
    main()
