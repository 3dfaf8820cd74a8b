"""Tensor-list ops vs TF's TensorList ops, chained in one graph; lists are never mutated."""
from __future__ import annotations

import numpy as np
import pytest

from test_ops_common import rng

from litesmith.ir import Builder, DType, Graph, TensorType, get_op, run, verify
from litesmith.ir.ops.tensor_list import TensorListValue
from litesmith.ir.registry import InferError

F32, I32 = np.float32, np.int32
ELEM = TensorType(DType.FLOAT32, (2, 3))


def test_reserve_set_get_stack_length_match_tf(tf):
    a = rng(0).standard_normal((2, 3)).astype(F32)
    b = rng(1).standard_normal((2, 3)).astype(F32)

    lst = tf.raw_ops.TensorListReserve(element_shape=[2, 3], num_elements=3, element_dtype=tf.float32)
    lst = tf.raw_ops.TensorListSetItem(input_handle=lst, index=0, item=a)
    lst = tf.raw_ops.TensorListSetItem(input_handle=lst, index=2, item=b)
    want_stack = tf.raw_ops.TensorListStack(input_handle=lst, element_dtype=tf.float32, element_shape=[2, 3], num_elements=3)
    want_item = tf.raw_ops.TensorListGetItem(input_handle=lst, index=2, element_shape=[2, 3], element_dtype=tf.float32)
    want_len = tf.raw_ops.TensorListLength(input_handle=lst)

    g = Graph()
    ga, gb = g.add_input(ELEM, "a"), g.add_input(ELEM, "b")
    bld = Builder(g)
    n = bld.const(np.int32(3))
    l0 = bld.op("core.tensor_list_reserve", [n], {"element_dtype": DType.FLOAT32, "element_shape": (2, 3)})
    l1 = bld.op("core.tensor_list_set_item", [l0, bld.const(np.int32(0)), ga])
    l2 = bld.op("core.tensor_list_set_item", [l1, bld.const(np.int32(2)), gb])
    stack = bld.op("core.tensor_list_stack", [l2], {"element_dtype": DType.FLOAT32, "num_elements": 3}, name="stack")
    item = bld.op("core.tensor_list_get_item", [l2, bld.const(np.int32(2))], {"element_dtype": DType.FLOAT32}, name="item")
    length = bld.op("core.tensor_list_length", [l2], name="length")
    g.outputs = [stack, item, length]
    verify(g)
    assert l2.type == TensorType.list_of(ELEM)
    assert stack.shape == tuple(want_stack.shape) and item.shape == tuple(want_item.shape) and length.shape == ()

    out = run(g, {"a": a, "b": b})
    np.testing.assert_array_equal(out["stack"], want_stack.numpy())  # the unset slot reads as zeros
    np.testing.assert_array_equal(out["item"], want_item.numpy())
    assert out["length"] == want_len.numpy() and out["length"].dtype == want_len.numpy().dtype


def test_from_tensor_then_get_and_stack_match_tf(tf):
    x = rng(2).standard_normal((4, 3)).astype(F32)
    lst = tf.raw_ops.TensorListFromTensor(tensor=x, element_shape=[3])
    want_item = tf.raw_ops.TensorListGetItem(input_handle=lst, index=1, element_shape=[3], element_dtype=tf.float32)
    want_stack = tf.raw_ops.TensorListStack(input_handle=lst, element_dtype=tf.float32, element_shape=[3])

    g = Graph()
    gx = g.add_input(TensorType(DType.FLOAT32, (4, 3)), "x")
    bld = Builder(g)
    lst_v = bld.op("core.tensor_list_from_tensor", [gx], {"element_shape": (None,)})
    assert lst_v.type.element == TensorType(DType.FLOAT32, (3,))
    item = bld.op("core.tensor_list_get_item", [lst_v, bld.const(np.int32(1))], {"element_dtype": DType.FLOAT32}, name="item")
    stack = bld.op("core.tensor_list_stack", [lst_v], {"element_dtype": DType.FLOAT32}, name="stack")
    g.outputs = [item, stack]
    verify(g)
    assert stack.shape == (None, 3)  # the list type does not carry its length
    out = run(g, {"x": x})
    np.testing.assert_array_equal(out["item"], want_item.numpy())
    np.testing.assert_array_equal(out["stack"], want_stack.numpy())


def test_set_item_never_mutates_its_input_list():
    before = TensorListValue([np.zeros(2, F32), None], DType.FLOAT32, (2,))
    after = get_op("core.tensor_list_set_item").kernel(before, np.int32(1), np.ones(2, F32))
    assert before.items[1] is None and len(before) == 2
    np.testing.assert_array_equal(after.items[1], [1, 1])
    item = np.full(2, 5, F32)
    again = get_op("core.tensor_list_set_item").kernel(after, np.int32(0), item)
    item[:] = 9  # the list holds its own copy
    np.testing.assert_array_equal(again.items[0], [5, 5])
    np.testing.assert_array_equal(after.items[0], [0, 0])


def test_unset_slot_with_unknown_shape_cannot_be_read():
    lst = TensorListValue([None], DType.FLOAT32, (None,))
    with pytest.raises(ValueError, match="never set"):
        get_op("core.tensor_list_get_item").kernel(lst, np.int32(0))


def test_list_ops_reject_mismatched_types():
    g = Graph()
    lst = g.add_input(TensorType.list_of(ELEM), "l")
    bld = Builder(g)
    with pytest.raises(InferError, match="element_dtype"):
        bld.op("core.tensor_list_get_item", [lst, bld.const(np.int32(0))], {"element_dtype": DType.INT32})
    with pytest.raises(InferError, match="contradicts"):
        bld.op("core.tensor_list_set_item", [lst, bld.const(np.int32(0)), g.add_input(TensorType(DType.FLOAT32, (3, 3)), "bad")])
    with pytest.raises(InferError, match="tensor list"):
        bld.op("core.tensor_list_length", [g.add_input(ELEM, "t")])


def test_list_with_unknown_element_shape():
    g = Graph()
    n = g.add_input(TensorType(DType.INT32, ()), "n")
    bld = Builder(g)
    lst = bld.op("core.tensor_list_reserve", [n], {"element_dtype": DType.FLOAT32, "element_shape": None})
    stack = bld.op("core.tensor_list_stack", [lst], {"element_dtype": DType.FLOAT32})
    assert stack.shape is None
    partial = bld.op("core.tensor_list_reserve", [n], {"element_dtype": DType.INT32, "element_shape": (None, 4)})
    assert bld.op("core.tensor_list_stack", [partial], {"element_dtype": DType.INT32}).shape == (None, None, 4)
