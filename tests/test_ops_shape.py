"""Shape and data-movement ops vs TensorFlow, strided slice with all five masks."""
from __future__ import annotations

import numpy as np
import pytest

from test_ops_common import C, check_op, infer_shape, rng

from litesmith.ir import DType, TensorType
from litesmith.ir.ops.shape_ops import NEW_AXIS, StridedSliceError, normalize_strided_slice
from litesmith.ir.registry import InferError

F32, I32, I64 = np.float32, np.int32, np.int64
X = np.arange(4 * 5 * 6, dtype=F32).reshape(4, 5, 6)


def _i32(v):
    return np.array(v, I32)


# -- strided slice ------------------------------------------------------------------

# (begin, end, strides, masks) on X of shape [4, 5, 6]; the comment is the numpy spelling.
STRIDED = [
    ([1, 0, 2], [3, 5, 6], [1, 2, 2], {}),  # x[1:3, 0:5:2, 2:6:2]
    ([-3, -1, 0], [-1, -6, 6], [1, -1, 3], {}),  # negative begin/end, negative stride
    ([1, 2, 3], [2, 4, 5], [1, 1, -1], {"begin_mask": 0b101, "end_mask": 0b010}),
    ([0, 1], [0, 3], [1, 1], {"ellipsis_mask": 0b1}),  # x[..., 1:3]
    ([1, 0, 2], [2, 0, 4], [1, 1, 1], {"ellipsis_mask": 0b10}),  # x[1:2, ..., 2:4]
    ([0, 0], [0, 2], [1, 1], {"new_axis_mask": 0b1}),  # x[None, :2]
    ([2, -1], [3, 0], [1, 1], {"shrink_axis_mask": 0b11}),  # x[2, -1]
    ([0, 0, 3], [0, 0, 4], [1, 1, 1], {"ellipsis_mask": 0b1, "new_axis_mask": 0b10, "shrink_axis_mask": 0b100}),  # x[..., None, 3]
    ([0, 1], [0, 2], [1, 1], {"new_axis_mask": 0b1, "shrink_axis_mask": 0b11}),  # new axis wins over shrink
    ([-100, 2, 10], [100, 100, 20], [1, 1, 1], {}),  # bounds clamp
    ([0, 0, 0], [0, 0, 0], [-1, -2, 1], {"begin_mask": 0b111, "end_mask": 0b111}),  # x[::-1, ::-2, :]
    ([3, 0, 0], [1, 5, 6], [1, 1, 1], {}),  # empty
    ([1], [3], [1], {}),  # fewer entries than dims: the rest are whole
    ([0, 4, 0], [0, 1, 0], [1, -1, 1], {"ellipsis_mask": 0b1, "begin_mask": 0b100, "end_mask": 0b100}),  # x[..., 4:1:-1, :]
    ([0, 0], [0, 0], [1, 1], {"ellipsis_mask": 0b1, "new_axis_mask": 0b10}),  # x[..., None]
    ([-1], [0], [1], {"shrink_axis_mask": 0b1}),  # x[-1]
    ([0, 0, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1], {"new_axis_mask": 0b1010, "begin_mask": 0b100, "end_mask": 0b100}),  # x[0:1, None, :, None]
    ([3, 4, 5], [-5, -6, -7], [-1, -2, -3], {}),  # negative strides to before index 0
    ([1, 1], [0, 0], [1, 1], {"shrink_axis_mask": 0b1, "ellipsis_mask": 0b10}),  # x[1, ...]
]


@pytest.mark.parametrize("begin,end,strides,masks", STRIDED, ids=[str(i) for i in range(len(STRIDED))])
def test_strided_slice_matches_tf(tf, begin, end, strides, masks):
    want = tf.raw_ops.StridedSlice(input=X, begin=_i32(begin), end=_i32(end), strides=_i32(strides), **masks)
    check_op(tf, "core.strided_slice", [X, C(_i32(begin)), C(_i32(end)), C(_i32(strides))], masks, want)


def test_strided_slice_with_runtime_bounds(tf):
    """begin/end as graph inputs: the kernel still resolves them; inference knows the rank from the
    masks and the bounds' length, and the dims no entry names (here the last)."""
    b, e, s = _i32([1, -1]), _i32([4, 0]), _i32([2, 1])
    want = tf.raw_ops.StridedSlice(input=X, begin=b, end=e, strides=s, shrink_axis_mask=2)
    from test_ops_common import run_op

    (got,), (t,) = run_op("core.strided_slice", [X, b, e, s], {"shrink_axis_mask": 2})
    np.testing.assert_array_equal(got, want.numpy())
    assert t.shape == (None, 6)


@pytest.mark.parametrize("begin,end,strides,masks", STRIDED, ids=[str(i) for i in range(len(STRIDED))])
def test_strided_slice_runtime_bounds_infer_a_shape_tf_agrees_with(tf, begin, end, strides, masks):
    """Every spec above with its bounds as graph inputs (what tf.vectorized_map's x[i] is): the
    inferred shape has TF's rank, and each dim it claims is TF's."""
    from test_ops_common import run_op

    want = tf.raw_ops.StridedSlice(input=X, begin=_i32(begin), end=_i32(end), strides=_i32(strides), **masks).numpy()
    (got,), (t,) = run_op("core.strided_slice", [X, _i32(begin), _i32(end), _i32(strides)], masks)
    np.testing.assert_array_equal(got, want)
    assert t.shape is not None and len(t.shape) == want.ndim, (t.shape, want.shape)
    assert all(d is None or d == w for d, w in zip(t.shape, want.shape)), (t.shape, want.shape)


def test_normalize_strided_slice_spec():
    spec = normalize_strided_slice((4, 5, 6), [0, 0, 3], [0, 0, 4], [1, 1, 1], ellipsis_mask=1, new_axis_mask=2, shrink_axis_mask=4)
    assert spec.shape == (4, 5, 1)
    assert spec.output_dims == (0, 1, NEW_AXIS)
    assert spec.shrink == (False, False, True)
    assert spec.begin == (0, 0, 3) and spec.end == (4, 5, 4) and spec.strides == (1, 1, 1)
    rev = normalize_strided_slice((5,), [0], [0], [-1], begin_mask=1, end_mask=1)
    assert (rev.begin, rev.end, rev.sizes) == ((4,), (-1,), (5,))
    np.testing.assert_array_equal(rev.apply(np.arange(5)), [4, 3, 2, 1, 0])


def test_normalize_strided_slice_with_unknown_dims():
    spec = normalize_strided_slice((None, 5, None), [0, 1, 2], [0, 3, 0], [1, 1, 1], begin_mask=1, end_mask=1, shrink_axis_mask=4)
    assert spec.shape == (None, 2)
    assert infer_shape("core.strided_slice", [TensorType(DType.FLOAT32, (None, 8)), C(_i32([0, 2])), C(_i32([0, 6])), C(_i32([1, 2]))], {"begin_mask": 1, "end_mask": 1}) == (None, 2)


@pytest.mark.parametrize(
    "args,kw,match",
    [
        (([1], [2], [0]), {}, "non-zero"),
        (([7], [8], [1]), {"shrink_axis_mask": 1}, "out of bounds"),
        (([0, 0], [1, 1], [1, 1]), {"ellipsis_mask": 3}, "one ellipsis"),
        (([0, 0, 0, 0], [1, 1, 1, 1], [1, 1, 1, 1]), {}, "out of range"),
    ],
)
def test_normalize_strided_slice_rejects_what_tf_rejects(args, kw, match):
    with pytest.raises(StridedSliceError, match=match):
        normalize_strided_slice((4, 5, 6), *args, **kw)


# -- reshape / transpose / concat / split / pack / unpack ----------------------------


@pytest.mark.parametrize("shape", [[4, -1], [120], [-1], [2, 3, 4, 5], [1, 120, 1]], ids=str)
def test_reshape(tf, shape):
    check_op(tf, "core.reshape", [X, C(_i32(shape))], {}, tf.raw_ops.Reshape(tensor=X, shape=_i32(shape)))


def test_reshape_inference():
    t = TensorType(DType.FLOAT32, (None, 6))
    assert infer_shape("core.reshape", [t, C(_i32([-1, 2, 3]))]) == (None, 2, 3)
    assert infer_shape("core.reshape", [t, TensorType(DType.INT32, (3,))]) == (None, None, None)
    with pytest.raises(InferError, match="cannot reshape"):
        infer_shape("core.reshape", [TensorType(DType.FLOAT32, (2, 3)), C(_i32([4, -1]))])


@pytest.mark.parametrize("perm", [[1, 0, 2], [2, 0, 1], [0, 1, 2]], ids=str)
def test_transpose(tf, perm):
    check_op(tf, "core.transpose", [X, C(_i32(perm))], {}, tf.raw_ops.Transpose(x=X, perm=_i32(perm)))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat(tf, axis):
    parts = [X, X * 2, X[:, :, :] + 1]
    check_op(tf, "core.concat", parts, {"axis": axis}, tf.raw_ops.ConcatV2(values=parts, axis=axis))


def test_concat_inference_with_unknown_dims():
    a, b = TensorType(DType.FLOAT32, (None, 3)), TensorType(DType.FLOAT32, (2, None))
    assert infer_shape("core.concat", [a, b], {"axis": 0}) == (None, 3)
    assert infer_shape("core.concat", [TensorType(DType.FLOAT32, (2, 3)), TensorType(DType.FLOAT32, (4, 3))], {"axis": 0}) == (6, 3)


@pytest.mark.parametrize("axis,sizes", [(1, [2, -1, 1]), (2, [1, 2, 3]), (-1, [3, 3]), (0, [4])], ids=str)
def test_split(tf, axis, sizes):
    want = tf.raw_ops.SplitV(value=X, size_splits=_i32(sizes), axis=axis, num_split=len(sizes))
    check_op(tf, "core.split", [X], {"axis": axis, "sizes": sizes}, list(want))


@pytest.mark.parametrize("axis", [0, 1, -1, 3])
def test_pack(tf, axis):
    parts = [X, X + 1]
    check_op(tf, "core.pack", parts, {"axis": axis}, tf.raw_ops.Pack(values=parts, axis=axis))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_unpack(tf, axis):
    num = X.shape[axis]
    check_op(tf, "core.unpack", [X], {"axis": axis, "num": num}, list(tf.raw_ops.Unpack(value=X, num=num, axis=axis)))


# -- slice / gather / gather_nd ---------------------------------------------------------


@pytest.mark.parametrize("begin,size", [([1, 0, 2], [2, -1, 3]), ([0, 0, 0], [4, 5, 6]), ([3, 4, 5], [1, 1, 1]), ([1, 2, 0], [0, 2, -1])], ids=str)
def test_slice(tf, begin, size):
    want = tf.raw_ops.Slice(input=X, begin=_i32(begin), size=_i32(size))
    check_op(tf, "core.slice", [X, C(_i32(begin)), C(_i32(size))], {}, want)


@pytest.mark.parametrize(
    "pshape,ishape,axis,batch_dims",
    [((5, 4, 3), (2, 3), 0, 0), ((5, 4, 3), (6,), 1, 0), ((5, 4, 3), (), -1, 0), ((2, 5, 3), (2, 4), 1, 1), ((2, 3, 5, 2), (2, 3, 4), 2, 2), ((2, 5, 3), (2, 4), 2, 1)],
    ids=str,
)
def test_gather(tf, pshape, ishape, axis, batch_dims):
    params = rng(0).standard_normal(pshape).astype(F32)
    dim = pshape[axis]
    indices = rng(1).integers(0, dim, ishape).astype(I32)
    want = tf.raw_ops.GatherV2(params=params, indices=indices, axis=axis, batch_dims=batch_dims)
    check_op(tf, "core.gather", [params, indices], {"axis": axis, "batch_dims": batch_dims}, want)


@pytest.mark.parametrize("pshape,ishape,batch_dims", [((4, 5, 6), (3, 2), 0), ((4, 5, 6), (2, 2, 3), 0), ((4, 5), (3, 1), 0), ((2, 4, 5), (2, 3, 1), 1)], ids=str)
def test_gather_nd(tf, pshape, ishape, batch_dims):
    params = rng(0).standard_normal(pshape).astype(F32)
    k = ishape[-1]
    limits = np.array(pshape[batch_dims : batch_dims + k])
    indices = (rng(1).random(ishape) * limits).astype(I64)
    want = tf.gather_nd(params, indices, batch_dims=batch_dims)
    check_op(tf, "core.gather_nd", [params, indices], {"batch_dims": batch_dims}, want)


def test_gather_inference_with_unknown_dims():
    p, i = TensorType(DType.FLOAT32, (None, 8)), TensorType(DType.INT32, (None, 2))
    assert infer_shape("core.gather", [p, i], {"axis": 0}) == (None, 2, 8)
    assert infer_shape("core.gather_nd", [p, TensorType(DType.INT32, (3, 1))]) == (3, 8)


# -- pad / tile / broadcast_to / reverse / expand_dims / squeeze ------------------------

PADS = _i32([[1, 0], [2, 1], [0, 3]])


def test_pad_constant(tf):
    check_op(tf, "core.pad", [X, C(PADS)], {}, tf.raw_ops.Pad(input=X, paddings=PADS))
    v = np.array(-7.5, F32)
    check_op(tf, "core.pad", [X, C(PADS), v], {}, tf.raw_ops.PadV2(input=X, paddings=PADS, constant_values=v))


@pytest.mark.parametrize("mode", ["REFLECT", "SYMMETRIC"])
def test_mirror_pad(tf, mode):
    check_op(tf, "core.pad", [X, C(PADS)], {"mode": mode}, tf.raw_ops.MirrorPad(input=X, paddings=PADS, mode=mode))


@pytest.mark.parametrize("multiples", [[1, 1, 1], [2, 1, 3], [1, 0, 2]], ids=str)
def test_tile(tf, multiples):
    check_op(tf, "core.tile", [X, C(_i32(multiples))], {}, tf.raw_ops.Tile(input=X, multiples=_i32(multiples)))


@pytest.mark.parametrize("xs,shape", [((3,), [2, 3]), ((4, 1), [2, 4, 5]), ((), [2, 2]), ((2, 1, 3), [2, 4, 3])], ids=str)
def test_broadcast_to(tf, xs, shape):
    x = rng(0).standard_normal(xs).astype(F32)
    check_op(tf, "core.broadcast_to", [x, C(_i32(shape))], {}, tf.raw_ops.BroadcastTo(input=x, shape=_i32(shape)))


@pytest.mark.parametrize("axes", [[0], [1, 2], [-1], [0, 1, 2], []], ids=str)
def test_reverse(tf, axes):
    check_op(tf, "core.reverse", [X], {"axes": axes}, tf.raw_ops.ReverseV2(tensor=X, axis=_i32(axes)))


@pytest.mark.parametrize("axis", [0, 2, 3, -1, -4])
def test_expand_dims(tf, axis):
    check_op(tf, "core.expand_dims", [X], {"axis": axis}, tf.raw_ops.ExpandDims(input=X, axis=axis))


@pytest.mark.parametrize("axes", [[], [0], [2, -1], [-4]], ids=str)
def test_squeeze(tf, axes):
    x = np.zeros((1, 3, 1, 1), F32) + np.arange(3, dtype=F32).reshape(1, 3, 1, 1)
    check_op(tf, "core.squeeze", [x], {"axes": axes}, tf.raw_ops.Squeeze(input=x, axis=axes))


def test_squeeze_all_with_unknown_dims_has_unknown_rank():
    assert infer_shape("core.squeeze", [TensorType(DType.FLOAT32, (1, None, 3))]) is None
    assert infer_shape("core.squeeze", [TensorType(DType.FLOAT32, (1, None, 3))], {"axes": [0]}) == (None, 3)


def test_shape_ops_with_unknown_inputs():
    t = TensorType(DType.FLOAT32, (None, 4, None))
    assert infer_shape("core.transpose", [t, C(_i32([2, 0, 1]))]) == (None, None, 4)
    assert infer_shape("core.pad", [t, C(PADS)]) == (None, 7, None)
    assert infer_shape("core.tile", [t, C(_i32([2, 2, 2]))]) == (None, 8, None)
    assert infer_shape("core.slice", [t, C(_i32([0, 1, 0])), C(_i32([2, -1, -1]))]) == (2, 3, None)
    assert infer_shape("core.expand_dims", [t], {"axis": 1}) == (None, 1, 4, None)
    assert infer_shape("core.split", [t], {"axis": 0, "sizes": [1, -1]}) == [(1, 4, None), (None, 4, None)]
    assert infer_shape("core.unpack", [t], {"axis": 1, "num": 4}) == [(None, None)] * 4
    assert infer_shape("core.pack", [t, t], {"axis": -1}) == (None, 4, None, 2)
    assert infer_shape("core.broadcast_to", [t, TensorType(DType.INT32, (3,))]) == (None, None, None)
    assert infer_shape("core.reverse", [t], {"axes": [0]}) == (None, 4, None)
    assert infer_shape("core.one_hot", [TensorType(DType.INT32, (None,)), C(np.int32(3)), C(F32(1)), C(F32(0))]) == (None, 3)
    assert infer_shape("core.shape", [t]) == (3,)
    assert infer_shape("core.shape", [TensorType(DType.FLOAT32, None)]) == (None,)
    assert infer_shape("core.fill", [TensorType(DType.INT32, (2,)), C(F32(1))]) == (None, None)
    assert infer_shape("core.range", [TensorType(DType.INT32, ()), C(np.int32(5)), C(np.int32(1))]) == (None,)


# -- one_hot / shape arithmetic ----------------------------------------------------------


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_one_hot(tf, axis):
    indices = _i32([[0, 2, -1], [3, 1, 5]])  # -1 and 5 are out of range: all off_value
    on, off = np.array(2.5, F32), np.array(-1.0, F32)
    want = tf.raw_ops.OneHot(indices=indices, depth=4, on_value=on, off_value=off, axis=axis)
    check_op(tf, "core.one_hot", [indices, C(np.int32(4)), C(on), C(off)], {"axis": axis}, want)


@pytest.mark.parametrize("dtype,tf_dtype", [(DType.INT32, "int32"), (DType.INT64, "int64")])
def test_shape_and_size(tf, dtype, tf_dtype):
    check_op(tf, "core.shape", [X], {"dtype": dtype}, tf.raw_ops.Shape(input=X, out_type=getattr(tf, tf_dtype)))
    check_op(tf, "core.size", [X], {"dtype": dtype}, tf.raw_ops.Size(input=X, out_type=getattr(tf, tf_dtype)))


def test_rank(tf):
    check_op(tf, "core.rank", [X], {}, tf.raw_ops.Rank(input=X))
    check_op(tf, "core.rank", [np.float32(3)], {}, tf.raw_ops.Rank(input=np.float32(3)))


@pytest.mark.parametrize("dims,value", [([2, 3], np.float32(1.5)), ([4], np.int32(-2)), ([0, 2], np.float32(0)), ([], np.int64(7))], ids=str)
def test_fill(tf, dims, value):
    check_op(tf, "core.fill", [C(_i32(dims)), value], {}, tf.raw_ops.Fill(dims=_i32(dims), value=value))


@pytest.mark.parametrize(
    "start,limit,delta",
    [(0, 10, 3), (10, 0, -2), (3, 3, 1), (np.float32(0.5), np.float32(2.0), np.float32(0.3)), (np.float32(1), np.float32(-1), np.float32(-0.5)), (np.int64(-4), np.int64(4), np.int64(4))],
    ids=str,
)
def test_range(tf, start, limit, delta):
    start, limit, delta = (np.asarray(v if isinstance(v, np.generic) else np.int32(v)) for v in (start, limit, delta))
    want = tf.raw_ops.Range(start=tf.constant(start), limit=tf.constant(limit), delta=tf.constant(delta))
    check_op(tf, "core.range", [C(start), C(limit), C(delta)], {}, want)


def test_single_result_split_and_unpack(tf):
    x = np.arange(6, dtype=F32).reshape(1, 6)
    check_op(tf, "core.unpack", [x], {"num": 1}, list(tf.raw_ops.Unpack(value=x, num=1)))
    check_op(tf, "core.split", [x], {"axis": 1, "sizes": [6]}, list(tf.raw_ops.SplitV(value=x, size_splits=_i32([6]), axis=1, num_split=1)))


def test_strided_slice_random_specs_agree_with_tf(tf):
    """Random specs (all masks, negative and out-of-range bounds): same result, or both reject."""
    r = rng(7)
    errors = (tf.errors.InvalidArgumentError, ValueError)
    for _ in range(300):
        n = int(r.integers(1, 5))
        begin, end = r.integers(-7, 8, n).astype(I32), r.integers(-7, 8, n).astype(I32)
        strides = r.choice([-3, -2, -1, 1, 2, 3], n).astype(I32)
        masks = {m: int(r.integers(0, 1 << n)) for m in ("begin_mask", "end_mask", "new_axis_mask", "shrink_axis_mask")}
        masks["ellipsis_mask"] = int(1 << r.integers(0, n)) if r.random() < 0.4 else 0
        try:
            want = tf.raw_ops.StridedSlice(input=X, begin=begin, end=end, strides=strides, **masks).numpy()
        except errors:
            want = None
        try:
            got = normalize_strided_slice(X.shape, begin, end, strides, **masks).apply(X)
        except StridedSliceError:
            got = None
        spec = f"begin={begin} end={end} strides={strides} {masks}"
        assert (got is None) == (want is None), f"{spec}: TF {'rejects' if want is None else 'accepts'} it, we do not"
        if want is not None:
            assert got.shape == want.shape, spec
            np.testing.assert_array_equal(got, want, err_msg=spec)
