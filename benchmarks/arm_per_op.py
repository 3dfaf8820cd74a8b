"""Where do the engines differ? The seed LM (--target armnn) op by op, and how its recurrence grows a 1-LSB step.

    .venv/bin/python benchmarks/arm_per_op.py [--steps 50] [--no-qemu] [--trials 40]

Needs what `make arm-check` installed (same cache). Every operator output of
the int8 LM is made a model output; each engine gets the same feeds at every
step (CpuRef's threaded states: "teacher-forced"), so an op's inputs agree
across engines wherever its producers agree. Per pair of engines and op type:
the values that differ although all the op's inputs are equal, out of the
values whose inputs are equal, and the largest such difference in int8 steps.
Then the recurrence's gain: a 1-LSB nudge of one state element at a random
step (LiteRT x86), and how far the states move over the next 20 steps.
Figures in docs/targets.md ("Where the engines differ").
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
import arm_check as A  # noqa: E402
import target_engines as E  # noqa: E402

ROW_OPS = {"FULLY_CONNECTED", "SOFTMAX", "CONCATENATION", "RESHAPE", "SPLIT"}  # an output value reads many inputs


def lm_blob() -> tuple:
    info = A.seed_lm()
    vocab = info["sizes"]["vocab"]
    calib = {"inputids": np.random.default_rng(0).integers(0, vocab, (16, 12)).astype(np.int32)}
    path = os.path.join(A.CACHE, "models", "lm_int8_armnn.tflite")
    return A._compile(info["full"], path, "int8", calib, A.LM_PASSES, target="armnn"), vocab


def every_output(blob: bytes):
    """The model with every operator output listed as a subgraph output (names made unique), and
    [(op name, output name, [input names])] in order."""
    import flatbuffers

    from litesmith.backends.tflite import schema_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(blob), 0)
    sg = model.subgraphs[0]
    seen = set()
    for i, t in enumerate(sg.tensors):
        if t.name in seen:
            t.name = t.name + f"#{i}".encode()
        seen.add(t.name)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    ops, outs = [], list(sg.outputs)
    for op in sg.operators:
        c = model.operatorCodes[op.opcodeIndex]
        for o in op.outputs:
            outs += [o] if o not in outs else []
            ops.append((names[max(c.builtinCode, c.deprecatedBuiltinCode)], sg.tensors[o].name.decode(),
                        [sg.tensors[i].name.decode() for i in op.inputs if i >= 0]))
    sg.outputs = outs
    builder = flatbuffers.Builder(len(blob) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output()), ops


def per_op(a, b, ops) -> dict:
    """op type -> [values differing with equal inputs, values with equal inputs, largest difference]."""
    table = {}
    for op, out, ins in ops:
        row = table.setdefault(op, [0, 0, 0.0])
        for sa, sb in zip(a, b):
            if out not in sa:
                continue
            va, vb = sa[out].astype(np.float64).ravel(), sb[out].astype(np.float64).ravel()
            same = np.ones(va.shape, bool)
            for name in ins:
                if name not in sa:  # a constant
                    continue
                ia, ib = sa[name].ravel(), sb[name].ravel()
                if op in ROW_OPS or ia.size != va.size:
                    same &= bool(np.array_equal(ia, ib))
                else:
                    same &= ia == ib
            diff = np.abs(va - vb)[same]
            row[0] += int((diff > 0).sum())
            row[1] += int(same.sum())
            row[2] = max(row[2], float(diff.max()) if diff.size else 0.0)
    return table


def gain(blob, vocab, steps, trials) -> tuple:
    pairs = {f"state/{i}": f"state/{i}_out" for i in range(4)}
    ids = np.random.default_rng(1).integers(0, vocab, steps)
    scales = _input_scales(blob, pairs)
    lsb = {k: v for k, v in E.output_lsb(blob).items() if k != "probs"}

    def run(nudge=None):
        feeds = []
        for k, t in enumerate(ids):
            feed = {"inputids": np.array(t, np.float32)}
            if k == 0:
                feed.update({n: np.zeros(32, np.float32) for n in pairs})
            feeds.append(feed)
        if nudge is None:
            return E.run_litert(blob, feeds, pairs)
        k0, name, j = nudge  # run to k0, nudge, continue
        head = E.run_litert(blob, feeds[:k0], pairs)
        state = {n: head[-1][o].reshape(-1).copy() for n, o in pairs.items()}
        state[name][j] += scales[name]
        return head + E.run_litert(blob, [{**feeds[k0], **state}] + feeds[k0 + 1:], pairs)

    base = run()
    rng = np.random.default_rng(0)
    worst, curves = [], []
    for _ in range(trials):
        k0, name, j = int(rng.integers(1, steps - 20)), list(pairs)[int(rng.integers(0, 4))], int(rng.integers(0, 32))
        moved = run((k0, name, j))
        curve = [E.max_lsb(base[s:s + 1], moved[s:s + 1], lsb) for s in range(k0, k0 + 20)]
        curves.append(curve)
        worst.append(max(curve))
    return worst, np.mean(curves, axis=0)


def _input_scales(blob, pairs) -> dict:
    from litesmith.backends.tflite import schema_generated as schema

    sg = schema.ModelT.InitFromPackedBuf(bytearray(blob), 0).subgraphs[0]
    scales = {}
    for op in sg.operators:
        t, o = sg.tensors[op.inputs[0]], sg.tensors[op.outputs[0]]
        if t.name.decode() in pairs and o.quantization is not None and o.quantization.scale is not None:
            scales[t.name.decode()] = float(o.quantization.scale[0])
    return scales


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--no-qemu", action="store_true")
    args = ap.parse_args(argv)
    root = A.ensure_armnn_x86()
    blob, vocab = lm_blob()
    pairs = A._state_pairs(blob)
    ids = np.random.default_rng(1).integers(0, vocab, args.steps)
    zeros = {n: np.zeros(32, np.float32) for n in pairs}
    threaded = E.run_armnn(blob, [{"inputids": np.array(t, np.int32), **(zeros if k == 0 else {})}
                                  for k, t in enumerate(ids)], pairs, root=root)
    forced = [{"inputids": np.array(t, np.int32), **{n: zeros[n] if k == 0 else threaded[k - 1][o]
                                                      for n, o in pairs.items()}} for k, t in enumerate(ids)]
    big, ops = every_output(blob)
    runs = {"LiteRT x86": E.run_litert(big, forced), "TFLM x86": E.run_tflm(big, forced),
            "Arm NN CpuRef x86": E.run_armnn(big, forced, root=root)}
    if not args.no_qemu:
        a64 = A.ensure_aarch64()
        runs["Arm NN CpuAcc aarch64 (qemu)"] = E.run_armnn(
            big, forced, backend="CpuAcc,CpuRef", root=a64["root"], command=a64["python"],
            triplet="aarch64-linux-gnu", env=a64["armnn_env"], timeout=3600)
    print(f"## per op, teacher-forced over {args.steps} steps: values differing with equal inputs / values "
          "with equal inputs (largest difference, int8 steps)")
    for a, b in itertools.combinations(runs, 2):
        table = per_op(runs[a], runs[b], ops)
        cells = [f"{op} {d}/{n} ({m:g})" for op, (d, n, m) in sorted(table.items()) if d]
        print(f"  {a} / {b}: " + ("; ".join(cells) if cells else "no op differs"))
    worst, mean = gain(blob, vocab, args.steps, args.trials)
    print(f"\n## a 1-LSB nudge of one state element (LiteRT x86, {args.trials} trials): largest state difference "
          f"over the next 20 steps, median {np.median(worst):.0f} LSB, max {max(worst):.0f} LSB")
    print("  mean largest difference per step after the nudge: " + " ".join(f"{v:.1f}" for v in mean))
    return 0


if __name__ == "__main__":
    sys.exit(main())
