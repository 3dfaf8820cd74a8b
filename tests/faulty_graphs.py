"""Large graphs with one injected fault, for the reducer's tests and benchmarks/reduce_scaling.py."""
import numpy as np

from litesmith.ir import Builder, DType, Graph, TensorType

__all__ = ["build_graph", "FAULTS"]

FAULTS = ("exp-sub", "mul-const", "erf", "tanh")


def build_graph(n: int, fault: str, seed: int = 0) -> Graph:
    """About ``n`` nodes of bounded elementwise math over x: f32[4, 8] (each op reads one of the
    last 8 values; constants here and there; dead branches too), two outputs, and one ``fault``
    halfway: ``exp-sub`` (sub(exp(a), b)), ``mul-const`` (mul(a, constant)) or ``erf``. The second
    output reads the fault through a tanh, as an auxiliary head would."""
    rng = np.random.default_rng(seed)
    g = Graph("main")
    b = Builder(g)
    values = [g.add_input(TensorType(DType.FLOAT32, (4, 8)), "x")]
    aux = None

    def pick():
        return values[-1 - int(rng.integers(0, min(len(values), 8)))]

    while len(g) < n:
        a, c = pick(), pick()
        if aux is None and len(g) >= n // 2:
            if fault == "exp-sub":
                v = b.op("core.sub", [b.op("core.exp", [a]), c])
            elif fault == "mul-const":
                v = b.op("core.mul", [a, b.const(rng.standard_normal((4, 8)).astype(np.float32))])
            else:
                v = b.op(f"core.{fault}", [a])
            aux = b.op("core.tanh", [v], name="aux")
        else:
            kind = int(rng.integers(0, 5))
            if kind == 0:
                v = b.op("core.tanh", [b.op("core.add", [a, c])])
            elif kind == 1:
                v = b.op("core.tanh", [b.op("core.sub", [c, a])])  # never sub(exp(.), .): exp only feeds tanh
            elif kind == 2:
                v = b.op("core.tanh", [b.op("core.add", [a, b.const(rng.standard_normal(8).astype(np.float32))])])
            elif kind == 3:
                v = b.op("core.mul", [a, c])
            else:
                v = b.op("core.tanh", [b.op("core.exp", [a])])
        values.append(v)
    values[-1].name = "y"
    g.outputs = [values[-1], aux]
    return g
