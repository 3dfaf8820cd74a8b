"""Present benchmark results: a markdown table, a bar chart (PNG) and a JSON record.

Ratios are against the first result (the TensorFlow side), measured in the same run.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
from collections.abc import Sequence

MIB = 1024 * 1024


def machine() -> dict:
    """Where the figures were measured (they mean little without it)."""
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "processor": platform.processor() or platform.machine()}


def record(results: Sequence[dict], command: str, **extra) -> dict:
    """The JSON-able record of one run (per-step top-1 lists dropped, agreement kept)."""
    rows = [{k: v for k, v in r.items() if k != "top1"} for r in results]
    return {"date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": machine(),
            "command": command, **extra, "results": rows}


def _ratio(value: float, reference: float) -> str:
    return f"{value / reference:.3f}" if reference else "-"


def markdown_table(rows: Sequence[dict]) -> str:
    """One row per side; ``x/TF`` columns divide by the first row (same run, same thread count)."""
    ref = rows[0]
    head = ("| side | threads | per-step ms (median) | x/TF | p90 ms | peak memory MiB | x/TF | model size KiB "
            "| runtime libraries MiB | x/TF | top-1 = TF |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        t = r["per_step_ms"]["median"]
        agreement = r.get("top1_agreement")
        lines.append(
            f"| {r['label']} | {r.get('threads', '-')} | {t:.4f} | {_ratio(t, ref['per_step_ms']['median'])} "
            f"| {r['per_step_ms']['p90']:.4f} "
            f"| {r['peak_rss_bytes'] / MIB:.1f} | {_ratio(r['peak_rss_bytes'], ref['peak_rss_bytes'])} "
            f"| {r['model_bytes'] / 1024:.0f} | {r['runtime_bytes'] / MIB:.1f} "
            f"| {_ratio(r['runtime_bytes'], ref['runtime_bytes'])} "
            f"| {'-' if agreement is None else f'{agreement:.3f}'} |")
    return "\n".join(lines) + "\n"


def bar_chart(rows: Sequence[dict], path: str, title: str) -> None:
    """Four panels (latency, memory, model size, runtime size), one bar per side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [r["label"] for r in rows]
    panels = [
        ("per-step latency (ms, median)", [r["per_step_ms"]["median"] for r in rows], False),
        ("peak memory (MiB)", [r["peak_rss_bytes"] / MIB for r in rows], False),
        ("model size (MiB)", [r["model_bytes"] / MIB for r in rows], False),
        ("runtime libraries on disk (MiB, log)", [r["runtime_bytes"] / MIB for r in rows], True),
    ]
    colors = ["#d95f02"] + ["#1b9e77", "#7570b3", "#e7298a", "#66a61e"][: len(rows) - 1]
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.8))
    for ax, (name, values, log) in zip(axes, panels):
        bars = ax.bar(range(len(values)), values, color=colors[: len(values)])
        ax.set_title(name, fontsize=10)
        ax.set_xticks(range(len(values)))
        ax.set_xticklabels(labels, rotation=20, ha="right", fontsize=8)
        if log:
            ax.set_yscale("log")
        for b, v in zip(bars, values):
            ax.annotate(f"{v:.3g}", (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom",
                        fontsize=8)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_outputs(out_dir: str, stem: str, rows: list[dict], rec: dict, title: str) -> dict[str, str]:
    """Write STEM.md, STEM.json and STEM.png into ``out_dir`` atomically; returns their paths."""
    from litesmith.ir.fileio import write_atomic

    os.makedirs(out_dir, exist_ok=True)
    paths = {ext: os.path.join(out_dir, f"{stem}.{ext}") for ext in ("md", "json", "png")}
    write_atomic(paths["md"], markdown_table(rows).encode("utf-8"))
    write_atomic(paths["json"], (json.dumps(rec, indent=2) + "\n").encode("utf-8"))
    tmp_png = paths["png"] + ".tmp.png"
    bar_chart(rows, tmp_png, title)
    os.replace(tmp_png, paths["png"])
    return paths
