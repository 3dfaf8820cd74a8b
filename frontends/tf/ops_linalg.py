"""TF matrix structure ops: band parts (tril/triu) and diagonal matrices (tf.eye, tf.linalg.diag)."""
from __future__ import annotations

import numpy as np

from .mapper import tf_op


@tf_op("MatrixBandPart", inputs=3)
def _band_part(ctx, node, inputs):
    return [ctx.op("core.matrix_band_part", inputs[:3])]


@tf_op("MatrixDiagV3", inputs=5)
def _matrix_diag_v3(ctx, node, inputs):
    return [ctx.op("core.matrix_diag", inputs[:5], {"align": node.attr_str("align", "RIGHT_LEFT")})]


@tf_op("MatrixDiagV2", inputs=5)
def _matrix_diag_v2(ctx, node, inputs):
    """V2 is V3 with every diagonal aligned left."""
    return [ctx.op("core.matrix_diag", inputs[:5], {"align": "LEFT_LEFT"})]


@tf_op("MatrixDiag", inputs=1)
def _matrix_diag(ctx, node, inputs):
    """V1: the main diagonal of square matrices, zeros elsewhere."""
    d = inputs[0]
    consts = [ctx.const(np.int32(v)) for v in (0, -1, -1)] + [ctx.const(np.zeros((), d.dtype.np))]
    return [ctx.op("core.matrix_diag", [d] + consts)]
