"""The traits an op declaration may carry, and the batch-axis rules it may name.

Passes ask an op's declaration (``get_op(name).traits``, ``.batch_axis``)
instead of keeping their own tables of op names, so a new op is one
``defop`` (plus its lowering). ``defop`` rejects a name not listed here; the
rules' implementations live with the passes that use them
(``passes/axis_rules.py`` for strip-batch and unroll-rnn).
"""
from __future__ import annotations

# -- traits ------------------------------------------------------------------------------------
ELEMENTWISE = "elementwise"
COMMUTATIVE = "commutative"
PRODUCT = "product"

TRAITS = {
    ELEMENTWISE: "each result element depends only on the operand elements at the same (broadcast) "
                 "index; operands broadcast numpy-style",
    COMMUTATIVE: "a binary op whose two operands may be swapped (numeric operands: core.add of strings "
                 "concatenates)",
    PRODUCT: "the elementwise product of its two operands (shape arithmetic reads a dim computed as "
             "size * n: Keras 3 TimeDistributed's [T * B, D] reshape)",
}

# -- batch-axis rules: how a tracked axis (batch, time) goes through the op -------------------------
BATCH_AXIS_RULES = {
    "elementwise": "the axis stays where it is; operands without it broadcast along it",
    "passthrough": "the result carries the first operand's axis unchanged",
    "reduce_axes": "reduction over attr `axes` (all when empty): mixes if it reduces the axis, "
                   "else the axis shifts down unless `keepdims`",
    "along_axis": "works along attr `axis` keeping the shape (softmax, cumsum): mixes if it is the axis",
    "index_along_axis": "reduces attr `axis` to an index (argmax): mixes if it is the axis",
    "matmul": "a batch dim of either operand, or the rows of x; contracting over it mixes",
    "spatial": "NHWC op that needs its rank: the axis must be dim 0 of the first operand only; "
               "a size-1 dim is kept around it when stripped",
    "transpose": "the axis moves with the constant permutation (so does the place of a squeezed-out one)",
    "concat": "joins along attr `axis`: mixes if it is the axis",
    "pack": "stacks along a new attr `axis`",
    "split": "splits along attr `axis`: mixes if it is the axis",
    "unpack": "unstacks along attr `axis`: mixes if it is the axis",
    "gather": "indices or params may carry it; gathering along it mixes",
    "reshape": "follows the axis through a static reshape (possibly merged into a larger dim), or to "
               "the dim of a run-time target that reads the axis size",
    "expand_dims": "a new dim at attr `axis` may shift it; a size-1 axis a squeeze took out (before any "
                   "transposes) comes back when the new dim is at its place",
    "squeeze": "removing dims at attr `axes` may shift or remove it (a size-1 axis removed alone "
               "is remembered for an expand_dims)",
    "strided_slice": "only a full, unit-stride slice of the axis keeps it",
    "per_dim_operands": "constant per-dim operands (slice begin/size, tile multiples, pad widths) lose "
                        "the axis's entry; the other operands must not carry it",
    "reverse": "attr `axes` is renumbered; reversing the axis itself mixes",
    "shape_of": "asks for the shape or rank: answered as if the axis were still there with size 1; "
                "element `a` of `shape(x)` is the axis size",
    "size_of": "a count (size, list length) that does not carry the axis",
    "fill": "creates a tensor of the `dims` operand: carries the axis when constant dim 0 is its size, or "
            "where run-time dims read the size (`shape(x)[0]`)",
    "broadcast_to": "creates a tensor of the `shape` operand: carries the axis when constant dim 0 is its size, "
                    "or where a run-time shape reads the size",
    "list_reserve": "an empty list whose attr `element_shape` starts with the axis size carries it",
    "list_from_tensor": "the list's elements carry the axis one dim lower; unstacking over it is a time axis",
    "list_set_item": "the list and the item must carry the axis at the same place",
    "list_stack": "stacking puts the axis one dim higher",
    "space_batch": "moves spatial blocks into or out of the batch (mixes)",
}


def check(op_name: str, traits, batch_axis) -> None:
    """Raise ValueError for a trait or batch-axis rule that is not in the vocabulary above."""
    unknown = [t for t in traits if t not in TRAITS]
    if unknown:
        raise ValueError(f"op {op_name}: unknown trait(s) {unknown}; known: {sorted(TRAITS)}")
    if batch_axis is not None and batch_axis not in BATCH_AXIS_RULES:
        raise ValueError(f"op {op_name}: unknown batch-axis rule {batch_axis!r}; known: {sorted(BATCH_AXIS_RULES)}")

# -- sequence-axis roles (decode-step): which batch-axis rules may take part in a causal mix ---------
# Every op whose batch-axis rule lets the axis through is position-wise along a sequence axis too
# (its results at position t read only its operands at t). Three rules may also act on attention
# scores, whose second axis runs over key positions; decode-step accepts them there only in these roles.
SEQUENCE_ROLES = {
    "matmul": "attention product: queries x keys (both carry the sequence axis; the keys' becomes the key "
              "axis, read from a K cache) or probabilities x values (contracts the key axis with the "
              "values' sequence axis, read from a V cache)",
    "elementwise": "a constant indexed by position (looked up at `position`) or a causal mask over "
                   "(query, key) (select or add of a large negative number wherever key > query)",
    "along_axis": "normalizes over the key axis (softmax), only after a causal mask",
}
