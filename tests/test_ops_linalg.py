"""core.matrix_band_part and core.matrix_diag vs tf.raw_ops: values, dtypes and inferred shapes."""
from __future__ import annotations

import numpy as np
import pytest

from test_ops_common import C, check_op, infer_shape, rng

from litesmith.ir import DType, TensorType
from litesmith.ir.registry import InferError

F32, I32, I64 = np.float32, np.int32, np.int64

BANDS = [(-1, 0), (0, -1), (0, 0), (1, 2), (-1, -1), (2, 0), (3, 3)]  # tril, triu, diag, a band, all, ...


@pytest.mark.parametrize("lower,upper", BANDS, ids=str)
@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (2, 5, 3)], ids=str)
def test_band_part_matches_tf(tf, shape, lower, upper):
    x = rng(1).standard_normal(shape).astype(F32)
    want = tf.raw_ops.MatrixBandPart(input=x, num_lower=I64(lower), num_upper=I64(upper))
    check_op(tf, "core.matrix_band_part", [x, C(I64(lower)), C(I64(upper))], {}, want)


def test_band_part_of_integers_and_int32_bounds(tf):
    x = rng(2).integers(-9, 9, (2, 3, 3)).astype(I32)
    want = tf.raw_ops.MatrixBandPart(input=x, num_lower=I32(1), num_upper=I32(0))
    check_op(tf, "core.matrix_band_part", [x, C(I32(1)), C(I32(0))], {}, want)


def test_band_part_rejects_a_vector_and_bounds_past_the_matrix(tf):
    with pytest.raises(InferError, match="rank 1"):
        infer_shape("core.matrix_band_part", [TensorType(DType.FLOAT32, (4,)), C(I64(-1)), C(I64(0))])
    with pytest.raises(InferError, match="num_upper = 4 exceeds the number of columns"):
        infer_shape("core.matrix_band_part", [TensorType(DType.FLOAT32, (4, 3)), C(I64(-1)), C(I64(4))])
    with pytest.raises(tf.errors.InvalidArgumentError):  # as TF does
        tf.raw_ops.MatrixBandPart(input=np.ones((4, 3), F32), num_lower=I64(-1), num_upper=I64(4))


DIAGS = [  # (diagonal shape, k, num_rows, num_cols, padding)
    ((4,), 0, -1, -1, 0.0),  # tf.eye / tf.linalg.diag
    ((2, 3), 0, -1, -1, 0.0),  # a batch
    ((3,), 1, -1, -1, 0.0),  # a superdiagonal: 4x4
    ((3,), -2, -1, -1, 7.0),  # a subdiagonal, padded with 7
    ((3,), 0, 3, 5, 0.0),  # wide
    ((2,), 1, 4, -1, 0.0),  # rows given, cols inferred
    ((3, 4), [-1, 1], -1, -1, 0.0),  # a band of 3 diagonals of length <= 4
    ((2, 2, 3), [0, 1], 3, 4, -1.0),  # a batch of bands in a 3x4
]


@pytest.mark.parametrize("align", ["RIGHT_LEFT", "LEFT_RIGHT", "LEFT_LEFT", "RIGHT_RIGHT"])
@pytest.mark.parametrize("shape,k,rows,cols,pad", DIAGS, ids=str)
def test_matrix_diag_matches_tf(tf, shape, k, rows, cols, pad, align):
    d = rng(3).standard_normal(shape).astype(F32)
    k = np.asarray(k, I32)
    want = tf.raw_ops.MatrixDiagV3(diagonal=d, k=k, num_rows=I32(rows), num_cols=I32(cols),
                                   padding_value=F32(pad), align=align)
    check_op(tf, "core.matrix_diag", [d, C(k), C(I32(rows)), C(I32(cols)), C(F32(pad))], {"align": align}, want)


def test_matrix_diag_rejects_a_matrix_that_does_not_fit(tf):
    with pytest.raises(InferError, match="does not fit"):
        infer_shape("core.matrix_diag", [TensorType(DType.FLOAT32, (3,)), C(I32(0)), C(I32(2)), C(I32(2)), C(F32(0))])
    with pytest.raises(Exception):  # TF refuses it too
        tf.raw_ops.MatrixDiagV3(diagonal=np.ones(3, F32), k=0, num_rows=2, num_cols=2, padding_value=F32(0))


def test_matrix_diag_with_computed_k_has_unknown_shape():
    t = infer_shape("core.matrix_diag", [TensorType(DType.FLOAT32, (3,)), TensorType(DType.INT32, ()),
                                         C(I32(-1)), C(I32(-1)), C(F32(0))])
    assert t is None
