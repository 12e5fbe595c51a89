#!/usr/bin/env python3
"""Draws sealdrop's benchmark chart from the JSON report that sealdrop-bench writes.

Left: each subject's throughput as a ratio to its baseline (the raw loopback TCP copy, or
the direct aws-sdk-s3 transfer for the S3 rows), with the targets. Right: the server's peak
RSS and the CLI's throughput by file size.

Usage: plot.py latest.json latest.png
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src: str, dst: str) -> None:
    with open(src, encoding="utf-8") as f:
        report = json.load(f)
    ratios = report.get("ratios", [])
    sizes = report.get("rss_by_size", [])

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.5), constrained_layout=True)
    fig.suptitle(
        f"sealdrop benchmarks ({report.get('mode', '?')} run, {report.get('date', '')})\n"
        f"{report.get('machine', '')}",
        fontsize=10,
    )

    if ratios:
        def colour(baseline: str) -> str:
            if "fsync" in baseline:
                return "#27ae60"
            return "#3b7dd8" if "raw" in baseline else "#e08a1e"

        def label(r: dict) -> str:
            return r["label"] + (" (÷ copy + fsync)" if "fsync" in r["baseline"] else "")

        labels = [label(r) for r in ratios]
        values = [r["ratio"] for r in ratios]
        colours = [colour(r["baseline"]) for r in ratios]
        y = range(len(labels))
        left.barh(y, values, color=colours)
        left.set_yticks(list(y), labels, fontsize=8)
        left.invert_yaxis()
        left.axvline(1.0, color="#555", linewidth=0.8)
        left.axvline(0.6, color="#3b7dd8", linestyle="--", linewidth=0.8, label="60 % of raw TCP (CLI target)")
        left.axvline(0.8, color="#e08a1e", linestyle="--", linewidth=0.8, label="80 % of direct S3 (target)")
        for i, v in enumerate(values):
            left.text(v + 0.01, i, f"{v:.2f}", va="center", fontsize=7)
        left.set_xlabel(
            "throughput ÷ baseline (blue: raw loopback TCP copy; green: the same copy into a "
            "file + fsync;\norange: direct aws-sdk-s3 to the same store)",
            fontsize=8,
        )
        left.set_xlim(0, max([1.1] + [v * 1.15 for v in values]))
        left.legend(fontsize=7, loc="upper right")
        left.set_title("Throughput ratios", fontsize=10)
    else:
        left.text(0.5, 0.5, "no transfer scenario in this run", ha="center")
        left.set_axis_off()

    if sizes:
        x = [p["size_mib"] for p in sizes]
        right.plot(x, [p["server_rss_mib"] for p in sizes], "o-", color="#c0392b", label="server peak RSS (MiB)")
        right.axhline(64, color="#c0392b", linestyle="--", linewidth=0.8, label="64 MiB target")
        right.set_xscale("log", base=2)
        right.set_xticks(x, [f"{v} MiB" if v < 1024 else f"{v // 1024} GiB" for v in x])
        right.set_xlabel("file size")
        right.set_ylabel("server peak RSS (MiB)")
        right.set_ylim(0, max([80] + [p["server_rss_mib"] * 1.2 for p in sizes]))
        rates = right.twinx()
        rates.plot(x, [p["upload_mib_s"] for p in sizes], "s--", color="#2e86c1", label="CLI upload MiB/s")
        rates.plot(x, [p["download_mib_s"] for p in sizes], "^--", color="#27ae60", label="CLI download MiB/s")
        rates.set_ylabel("MiB/s")
        rates.set_ylim(0, max([1] + [max(p["upload_mib_s"], p["download_mib_s"]) * 1.2 for p in sizes]))
        lines = right.get_legend_handles_labels()
        more = rates.get_legend_handles_labels()
        right.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, loc="lower right")
        right.set_title("Server memory and CLI throughput by file size", fontsize=10)
    else:
        right.text(0.5, 0.5, "no scaling scenario in this run", ha="center")
        right.set_axis_off()

    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: plot.py latest.json latest.png")
    main(sys.argv[1], sys.argv[2])
