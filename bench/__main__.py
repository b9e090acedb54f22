"""Run the benchmarks and write eval/BENCH.md (and BENCH.json beside it): ``python -m bench``.
See :mod:`bench` for the sections and their options."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import SECTIONS, run_section
from bench.common import FAKEBR, PIRA, ROOT, cpu_flags, machine
from bench.report import render


def parse_args() -> argparse.Namespace:  # long: one option per line, as --help shows them
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--only", default=",".join(SECTIONS))
    parser.add_argument(
        "--soak", type=float, default=60, help="limits: seconds of the 16-client load"
    )
    parser.add_argument("--limit", type=int, default=1000, help="fakebr records to index")
    parser.add_argument(
        "--index-all",
        action="store_true",
        help="index: also index the whole fakebr_news corpus end to end (about an hour here)",
    )
    parser.add_argument("--backend", default="onnx-int8", help="backend of the index/http/ann runs")
    parser.add_argument("--embed-passages", type=int, default=256)
    parser.add_argument("--no-mrr", action="store_true", help="skip the pira MRR per backend")
    parser.add_argument(
        "--emulate",
        metavar="CPU",
        help="quantisation: also measure int8 fidelity on this CPU model emulated by "
        "qemu-x86_64 (e.g. EPYC-Rome: AVX2, no AVX-512 or VNNI)",
    )
    parser.add_argument("--seconds", type=float, default=15.0, help="per HTTP run")
    parser.add_argument("--ann-sizes", default="10000,100000,1000000")
    parser.add_argument(
        "--scale-sizes", default="10000,100000,1000000", help="scale: passages per collection"
    )
    parser.add_argument(
        "--replica-sizes", default="10000,100000", help="replicas: passages per collection"
    )
    parser.add_argument("--ann-queries", type=int, default=300)
    parser.add_argument("--ann-latency-queries", type=int, default=100)
    parser.add_argument("--nprobes", default="16,64,256", help="ivf runs ('' for none)")
    parser.add_argument("--efs", default="128,256,512,1024", help="hnsw ef_search values")
    parser.add_argument(
        "--candidates", default="500,1000,2000", help="rabitq candidates values ('' for none)"
    )
    parser.add_argument(
        "--pq-candidates", default="2000,4000,6000", help="pq candidates values ('' for none)"
    )
    parser.add_argument("--hnsw-m", type=int, default=32)
    parser.add_argument("--synthetic", choices=("cov", "iso"), default="iso")
    parser.add_argument(
        "--ann-index",
        type=Path,
        help="ann: take the real vectors from this built index instead of the index section's",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "BENCH.md")
    parser.add_argument(
        "--update",
        action="store_true",
        help="re-run the --only sections into the existing report (its .json beside it), "
        "keeping the others; the report says which sections were re-run, when and how",
    )
    args = parser.parse_args()
    for name in ("ann_sizes", "scale_sizes", "replica_sizes"):
        setattr(args, name, [int(x) for x in getattr(args, name).split(",")])
    for name in ("nprobes", "efs", "candidates", "pq_candidates"):
        setattr(args, name, [int(x) for x in getattr(args, name).split(",") if x])
    args.only = [s for s in args.only.split(",") if s]
    if unknown := set(args.only) - set(SECTIONS):
        raise SystemExit(f"unknown section(s): {', '.join(sorted(unknown))}")
    return args


def main() -> None:
    args = parse_args()
    for needed in (FAKEBR, PIRA):
        if not needed.exists():
            raise SystemExit(f"benchmark data missing: {needed}")
    try:  # fail now, not after the runs, if the report cannot be written
        args.out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SystemExit(f"cannot write the report to {args.out}: {error}") from None
    started = time.perf_counter()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "cpu_flags": cpu_flags(),
        "commit": commit or "unknown",
    }
    command = ("python -m bench " + " ".join(sys.argv[1:])).strip()
    previous: dict[str, Any] | None = None
    if args.update:
        saved = args.out.with_suffix(".json")
        if not saved.is_file():
            raise SystemExit(f"--update needs an earlier report: {saved} is missing")
        previous = json.loads(saved.read_text())
    work = Path(tempfile.mkdtemp(prefix="qa-bench-"))
    try:
        for section in SECTIONS:
            if section in args.only:
                results[section] = run_section(section, args, work, results)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results.pop("index_dir", None)
    results["seconds"] = round(time.perf_counter() - started)
    if previous is not None:
        update = {k: results[k] for k in ("date", "commit", "seconds", "cpu_flags")}
        update |= {"sections": args.only, "command": command}
        for section in args.only:
            previous[section] = results[section]
        previous.setdefault("updates", []).append(update)
        results = previous
    else:
        results["command"] = command
    report = render(results)
    print(report)
    args.out.write_text(report + "\n", encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
