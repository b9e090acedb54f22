"""eval/BENCH.md from the results of a run: a header (command, machine, CPU flags) and
each section's own part, in the order a reader wants them."""

from __future__ import annotations

from typing import Any

from bench import (
    ann,
    answer,
    embed,
    indexing,
    limits,
    quantisation,
    queries,
    replicas,
    scale,
    stores,
)

ORDER = (
    *("embed", "quantisation", "index", "http", "answer", "limits", "stores", "scale"),
    *("replicas", "ann"),
)
PARTS = {
    "embed": embed,
    "quantisation": quantisation,
    "index": indexing,
    "http": queries,
    "answer": answer,
    "limits": limits,
    "stores": stores,
    "scale": scale,
    "replicas": replicas,
    "ann": ann,
}


def render(results: dict[str, Any]) -> str:
    command = results.get("command", "python -m bench")
    out = [
        "# Speed and memory",
        "",
        f"Produced by `{command}` on {results['date']} in {results['seconds']} s.",
        *(
            f"Section(s) {', '.join(u['sections'])} re-run by `{u['command']}` on {u['date']} "
            f"(commit {u['commit']}) in {u['seconds']} s; the other sections are from the run "
            "above."
            for u in results.get("updates", [])
        ),
        "",
        f"- Machine: {results['machine']}.",
        f"- CPU flags of the run: {results.get('cpu_flags', 'not recorded')}"
        + "".join(
            f"; of the {', '.join(u['sections'])} re-run: {u.get('cpu_flags', 'not recorded')}"
            for u in results.get("updates", [])
        )
        + ".",
        f"- Code: commit {results.get('commit', 'unknown')}.",
        "- Medians unless stated; every ratio is against the baseline measured in the same run.",
        "",
    ]
    for section in ORDER:
        if section in results:
            out += PARTS[section].render(results)
    return "\n".join(out)
