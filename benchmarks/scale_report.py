"""Tables and the log-log plot of the scaling benchmark (benchmarks/scale.py), from its results.json."""
from __future__ import annotations

import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.join(os.path.dirname(HERE), "docs")
BEGIN, END = "<!-- scale.py table: begin -->", "<!-- scale.py table: end -->"
STAGES = ("import", "load", "passes", "lower", "fuse", "write")


def rows(results: dict) -> list[dict]:
    """The measured rows: generated shapes by shape then node count, then the CNNs."""
    out = [r for k, r in results.items() if not k.startswith("_")]
    order = ("deep_mlp", "wide", "rnn", "mobilenet_v2", "resnet50")
    return sorted(out, key=lambda r: (order.index(r["shape"]) if r["shape"] in order else len(order), r["nodes"]))


def _seconds(side: dict | None) -> str:
    if not side:
        return "not run"
    if side["status"] == "timeout":
        return f"> {side['seconds']:.0f} (timeout)"
    if side["status"] != "ok":
        return "failed"
    cpu = f" ({side['cpu_seconds']:.1f})" if "cpu_seconds" in side else ""
    return f"{side['seconds']:.1f}{cpu}" + (" (c)" if side.get("cached") else "")


def _ok(side: dict | None) -> bool:
    return bool(side) and side["status"] == "ok"


def markdown(results: dict) -> str:
    """Whole-process table, then the per-stage table."""
    lines = ["| graph | nodes | litesmith s (cpu s) | TF s (cpu s) | TF / litesmith (cpu) | peak MiB litesmith / TF | "
             "peak ratio | "
             "ops litesmith / TF | LiteRT max abs diff (max abs output) | measured on |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows(results):
        ours, tf = r.get("litesmith"), r.get("tf")
        speed = f"{tf['seconds'] / ours['seconds']:.1f}x" if _ok(ours) and _ok(tf) else ""
        if speed and "cpu_seconds" in ours and "cpu_seconds" in tf:
            speed += f" ({tf['cpu_seconds'] / ours['cpu_seconds']:.1f}x)"
        if _ok(ours) and tf and tf["status"] == "timeout":
            speed = f"> {tf['seconds'] / ours['seconds']:.1f}x"
        peak = " / ".join(f"{s['peak_rss_mib']:.0f}" if _ok(s) else "-" for s in (ours, tf))
        peak_ratio = f"{ours['peak_rss_mib'] / tf['peak_rss_mib']:.2f}" if _ok(ours) and _ok(tf) else ""
        ops = " / ".join(str(s.get("ops", "-")) if _ok(s) else "-" for s in (ours, tf))
        agree = r.get("agreement")
        agree_text = f"{agree['max_abs_diff']:.2g} ({agree['max_abs_output']:.3g})" if agree else ""
        if agree and not agree["finite"]:
            agree_text += " NOT FINITE"
        made_by = r.get("compiler_commit", "?") if ours else f"TF {(tf or {}).get('tf_version', '?')} only"
        where = f"{r['measured'][:16].replace('T', ' ')}, {made_by}"
        lines.append(f"| {r['name']} | {r['nodes']:,} | {_seconds(ours)} | {_seconds(tf)} | {speed} | {peak} | "
                     f"{peak_ratio} | {ops} | {agree_text} | {where} |")
    lines += ["", "litesmith per stage, wall seconds (one more child process, Python API; "
              "benchmarks/scale_stages.py):", "",
              "| graph | nodes | " + " | ".join(STAGES) + " | sum (cpu) | slowest passes |",
              "|---|---:|" + "---:|" * (len(STAGES) + 1) + "---|"]
    for r in rows(results):
        st = r.get("stages")
        if not st or st.get("status") != "ok":
            continue
        sec = st["stages"]
        slow = sorted(st.get("passes", []), key=lambda p: -p["seconds"])[:2]
        slow_text = ", ".join(f"{p['name']} {p['seconds']:.2f}" for p in slow)
        cpu = f" ({sum(st['cpu'].values()):.2f})" if "cpu" in st else ""
        lines.append(f"| {r['name']} | {r['nodes']:,} | " + " | ".join(f"{sec.get(s, 0):.2f}" for s in STAGES)
                     + f" | {sum(sec.values()):.2f}{cpu} | {slow_text} |")
    notes = [r for r in rows(results) if r.get("passes")]
    if notes:
        lines += ["", "Extra passes given to litesmith: " + "; ".join(
            f"{r['name']}: {len(r['passes'].split(','))} x fold-constants" for r in notes) + "."]
    return "\n".join(lines) + "\n"


def plot(results: dict, path: str) -> None:
    """Log-log: whole-process wall time, CPU time and peak memory against node count, both tools."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_c, ax_m) = plt.subplots(1, 3, figsize=(16, 6))
    colours = {"deep_mlp": "tab:blue", "wide": "tab:orange", "rnn": "tab:green", "mobilenet_v2": "tab:purple",
               "resnet50": "tab:brown"}
    by_shape: dict = {}
    for r in rows(results):
        by_shape.setdefault(r["shape"], []).append(r)
    for shape, rs in by_shape.items():
        colour = colours.get(shape, "tab:gray")
        for side, style, marker in (("litesmith", "-", "o"), ("tf", "--", "s")):
            ok = [r for r in rs if _ok(r.get(side))]
            label = f"{shape} {'litesmith' if side == 'litesmith' else 'TF converter'}"
            for ax, key in ((ax_t, "seconds"), (ax_c, "cpu_seconds"), (ax_m, "peak_rss_mib")):
                have = [r for r in ok if key in r[side]]
                if have:
                    ax.plot([r["nodes"] for r in have], [r[side][key] for r in have], style, marker=marker,
                            color=colour, label=label)
            late = [r for r in rs if r.get(side) and r[side]["status"] == "timeout"]
            if late:
                ax_t.plot([r["nodes"] for r in late], [r[side]["seconds"] for r in late], "^", color=colour,
                          markersize=10, label=f"{label}: timeout (lower bound)")
    for ax, title, unit in ((ax_t, "whole process wall time", "seconds"), (ax_c, "CPU time (user + system)", "seconds"),
                            (ax_m, "peak memory (RSS)", "MiB")):
        ax.set_xlim(500, 200_000)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("GraphDef nodes")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = ax_t.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle("litesmith convert vs TF's converter (solid: litesmith, dashed: TF)")
    fig.tight_layout(rect=(0, 0.16, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_docs(table: str, png: str) -> None:
    """docs/benchmarks/scale.png and the table between the markers in docs/benchmarks.md."""
    shutil.copyfile(png, os.path.join(DOCS, "benchmarks", "scale.png"))
    path = os.path.join(DOCS, "benchmarks.md")
    with open(path) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{path}: no {BEGIN} ... {END} block to replace")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(path, "w") as f:
        f.write(f"{head}{BEGIN}\n{table}{END}{tail}")
