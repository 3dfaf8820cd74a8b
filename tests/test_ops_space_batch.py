"""core.space_to_batch_nd / core.batch_to_space_nd vs tf.raw_ops: values, dtypes, inferred shapes,
and the inputs TF rejects."""
from __future__ import annotations

import numpy as np
import pytest
from litesmith.ir import DType, TensorType
from litesmith.ir.registry import InferError
from test_ops_common import C, check_op, infer_shape, rng

F32, I32, I64 = np.float32, np.int32, np.int64

# (input shape, block_shape, paddings) for SpaceToBatchND; BatchToSpaceND runs on its result.
CASES = [
    ((1, 9, 10, 4), [2, 2], [[2, 3], [2, 2]]),  # a rate-2 SAME dilated conv's
    ((2, 9, 10, 3), [2, 3], [[0, 1], [0, 2]]),  # rate (2, 3), VALID
    ((2, 6, 4), [3], [[1, 2]]),  # rank 3, one block dim
    ((1, 4, 6, 2, 3), [2, 2], [[0, 0], [1, 1]]),  # two trailing dims
    ((3, 4, 6), [2, 3], [[0, 0], [0, 0]]),  # no trailing dim
    ((1, 5, 4, 2), [1, 2], [[1, 0], [0, 0]]),  # block 1 in one dim
]
IDS = [f"{len(s)}d_{'x'.join(map(str, b))}" for s, b, _ in CASES]


def _x(shape, dtype=F32):
    return rng(len(shape)).normal(size=shape).astype(dtype)


@pytest.mark.parametrize("shape,block,pads", CASES, ids=IDS)
def test_space_to_batch_nd(tf, shape, block, pads):
    x = _x(shape)
    want = tf.raw_ops.SpaceToBatchND(input=x, block_shape=np.array(block, I32), paddings=np.array(pads, I32))
    check_op(tf, "core.space_to_batch_nd", [x, C(block, I32), C(pads, I32)], {}, want)


@pytest.mark.parametrize("shape,block,pads", CASES, ids=IDS)
def test_batch_to_space_nd(tf, shape, block, pads):
    """The batch is the space_to_batch result; crops differ from the paddings (any crop that fits)."""
    x = np.asarray(tf.raw_ops.SpaceToBatchND(input=_x(shape), block_shape=np.array(block, I32),
                                             paddings=np.array(pads, I32)))
    crops = [[p[1], p[0]] for p in pads]
    want = tf.raw_ops.BatchToSpaceND(input=x, block_shape=np.array(block, I32), crops=np.array(crops, I32))
    check_op(tf, "core.batch_to_space_nd", [x, C(block, I32), C(crops, I32)], {}, want)


def test_int64_operands_and_integer_data(tf):
    x = _x((2, 4, 6, 1)).astype(I32)
    block, pads = np.array([2, 3], I64), np.array([[0, 0], [0, 0]], I64)
    want = tf.raw_ops.SpaceToBatchND(input=x, block_shape=block, paddings=pads)
    y = check_op(tf, "core.space_to_batch_nd", [x, C(block), C(pads)], {}, want)[0]
    back = tf.raw_ops.BatchToSpaceND(input=y, block_shape=block, crops=pads)
    check_op(tf, "core.batch_to_space_nd", [y, C(block), C(pads)], {}, back)


def test_inference_with_unknown_dims_and_operands():
    f = lambda *s: TensorType(DType.FLOAT32, s)
    blk, pads = C([2, 2], I32), C([[1, 1], [0, 2]], I32)
    assert infer_shape("core.space_to_batch_nd", [f(None, 6, None, 3), blk, pads]) == (None, 4, None, 3)
    assert infer_shape("core.batch_to_space_nd", [f(8, None, 5, 3), blk, pads]) == (2, None, 8, 3)
    runtime_pads = TensorType(DType.INT32, (2, 2))
    assert infer_shape("core.space_to_batch_nd", [f(1, 6, 6, 3), blk, runtime_pads]) == (4, None, None, 3)
    assert infer_shape("core.space_to_batch_nd", [f(1, 6, 6, 3), TensorType(DType.INT32, (2,)), pads]) == (None,) * 4


@pytest.mark.parametrize("op,shape,block,pairs,match", [
    ("core.space_to_batch_nd", (1, 5, 4, 1), [2, 2], [[0, 0], [0, 0]], "not a multiple of block size 2"),
    ("core.space_to_batch_nd", (1, 4, 4, 1), [2, 0], [[0, 0], [0, 0]], "block_shape must be positive"),
    ("core.space_to_batch_nd", (1, 4, 4, 1), [2, 2], [[0, -2], [0, 0]], "paddings must be non-negative"),
    ("core.space_to_batch_nd", (1, 4, 4, 1), [2, 2], [[0, 0]], r"paddings must have shape \[2, 2\]"),
    ("core.space_to_batch_nd", (4, 4), [2, 2], [[0, 0], [0, 0]], "input rank 2 is less than 1 \\+ 2"),
    ("core.batch_to_space_nd", (6, 2, 2, 1), [2, 2], [[0, 0], [0, 0]], "batch 6 is not a multiple"),
    ("core.batch_to_space_nd", (4, 2, 2, 1), [2, 2], [[3, 2], [0, 0]], "crops .* exceed dim 1"),
])
def test_inputs_tf_rejects_fail_inference(tf, op, shape, block, pairs, match):
    x = np.zeros(shape, F32)
    with pytest.raises(InferError, match=match):
        infer_shape(op, [TensorType(DType.FLOAT32, shape), C(block, I32), C(pairs, I32)])
    raw = tf.raw_ops.SpaceToBatchND if op == "core.space_to_batch_nd" else tf.raw_ops.BatchToSpaceND
    key = "paddings" if op == "core.space_to_batch_nd" else "crops"
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError)):  # TF rejects the same inputs
        raw(input=x, block_shape=np.array(block, I32), **{key: np.array(pairs, I32).reshape(-1, 2)})
