"""The scaling figure of benchmarks/README.md from a processor benchmark JSON.

Reads ``scaling_summary`` of ``bench_processor.py``'s result (``results/processor.json``, or
``results.processor`` of a ``calocoffea bench`` JSON) and draws events/s against the number
of dask workers (1, 2) and against the chunk size (per core), with the peak resident memory
per worker in the title.

    python benchmarks/plot_scaling.py [results/processor.json] [--out results/scaling.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def load_summary(path: Path) -> dict:
    """``scaling_summary`` of a processor result or of a ``calocoffea bench`` report."""
    data = json.loads(Path(path).read_text())
    if "results" in data:
        data = data["results"]["processor"]
    if "scaling_summary" not in data:
        raise KeyError(f"{path}: no scaling_summary (run bench_processor.py without "
                       "--per-core-only)")
    return data["scaling_summary"]


def draw(summary: dict, out: Path) -> Path:
    """Write the two-panel figure to ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
    workers = sorted(summary["workers"], key=int)
    rates = [summary["workers"][w] for w in workers]
    a.plot([int(w) for w in workers], rates, "o-", label="measured")
    a.plot([int(w) for w in workers], [rates[0] * int(w) for w in workers], "k--", lw=0.8,
           label="linear")
    a.set_xlabel("dask workers")
    a.set_ylabel("events / s (wall)")
    a.set_xticks([int(w) for w in workers])
    a.legend()
    a.set_title(f"{summary.get('workers_events')} events")
    chunks = sorted(summary["chunksize_events_per_cpu_s"], key=int)
    b.plot([int(c) for c in chunks], [summary["chunksize_events_per_cpu_s"][c] for c in chunks],
           "o-")
    b.set_xscale("log")
    b.set_xlabel("chunk size (events)")
    b.set_ylabel("events / CPU s (one worker)")
    mem = summary.get("peak_rss_gb_per_worker")
    fig.suptitle(f"Z→ee processor, CNN {summary.get('precision')}; peak RSS per worker "
                 f"{mem:.2f} GB (100k-event chunk)" if mem else "Z→ee processor")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("result", type=Path, nargs="?", default=HERE / "results" / "processor.json")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "scaling.png")
    args = parser.parse_args()
    print(draw(load_summary(args.result), args.out))


if __name__ == "__main__":
    main()
