# -*- test-case-name: tests.integration.test_bench -*-
"""
The comparison's charts, drawn with matplotlib from C{compare.json}:

    python plot.py compare.json OUTDIR

writes C{bench-throughput.png} (requests/s against requests in flight)
and C{bench-latency.png} (p50 and p99 of each workload). Runs with the
peers' interpreter, which has matplotlib; it imports nothing else of ours.
"""

import json
import os
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ORDER = ["ours", "ours-auth", "zerorpc", "nameko", "cote", "floor", "relay",
         "redis"]
WINDOWS = [("seq16", 1), ("c8", 8), ("c64", 64), ("c256", 256)]


def median(runs, field):
    values = [run[field] for run in runs or [] if field in run]
    return statistics.median(values) if values else None


def throughput(document, path):
    figure, axes = plt.subplots(figsize=(8, 5))
    for side in ORDER:
        found = document["results"].get(side)
        if not found:
            continue
        points = [(window, median(found.get(key), "rate"))
                  for key, window in WINDOWS]
        points = [(x, y) for x, y in points if y]
        if points:
            axes.plot([x for x, _ in points], [y for _, y in points],
                      marker="o", label=found.get("label", side),
                      linestyle="--" if side in ("floor", "relay", "redis")
                      else "-")
    axes.set_xscale("log", base=2)
    axes.set_xticks([1, 8, 64, 256])
    axes.set_xticklabels(["1", "8", "64", "256"])
    axes.set_yscale("log")
    axes.set_xlabel("requests in flight (16 B echo; Redis: PING)")
    axes.set_ylabel("requests/s (log)")
    axes.set_title("Throughput against concurrency ({})".format(
        document["date"]))
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def latency(document, path):
    workloads = [("seq16", "sequential 16 B"), ("seq1k", "sequential 1 KiB"),
                 ("c8", "8 in flight"), ("c64", "64 in flight")]
    sides = [s for s in ORDER if s in document["results"]]
    figure, axes = plt.subplots(1, len(workloads), figsize=(13, 4.5),
                                sharey=False)
    for axis, (key, title) in zip(axes, workloads):
        labels, p50, p99 = [], [], []
        for side in sides:
            runs = document["results"][side].get(key)
            if median(runs, "p50_us") is None:
                continue
            labels.append(side)
            p50.append(median(runs, "p50_us"))
            p99.append(median(runs, "p99_us"))
        positions = range(len(labels))
        axis.bar([p - 0.2 for p in positions], p50, width=0.4, label="p50")
        axis.bar([p + 0.2 for p in positions], p99, width=0.4, label="p99")
        axis.set_xticks(list(positions))
        axis.set_xticklabels(labels, rotation=30, fontsize=8)
        axis.set_yscale("log")
        axis.set_title(title, fontsize=10)
        axis.grid(True, axis="y", which="both", alpha=0.3)
    axes[0].set_ylabel("latency, microseconds (log)")
    axes[0].legend(fontsize=8)
    figure.suptitle("Latency percentiles ({})".format(document["date"]))
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(source, out):
    with open(source) as f:
        document = json.load(f)
    written = []
    for name, draw in (("bench-throughput.png", throughput),
                       ("bench-latency.png", latency)):
        path = os.path.join(out, name)
        draw(document, path)
        written.append(path)
    print("charts: " + ", ".join(written))


if __name__ == "__main__":
    main(*sys.argv[1:3])
