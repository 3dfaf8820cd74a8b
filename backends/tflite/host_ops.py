"""numpy CTC decoders with TensorFlow's exact semantics: the default host ops of a host-split model.

``run_manifest`` calls these for ``CTCGreedyDecoder`` and
``CTCBeamSearchDecoder`` steps, so a split model runs without TensorFlow.
Each takes the op's inputs and attributes as TF does (``inputs``
``[max_time, batch, num_classes]`` logits, ``sequence_length`` ``[batch]``)
and returns its outputs in TF's order: ``decoded_indices`` (one
``[n, 2]`` int64 per path), ``decoded_values`` (``[n]`` int64 per path),
``decoded_shape`` (``[batch, longest]`` int64 per path), ``log_probability``.

The beam search follows ``tensorflow/core/util/ctc/ctc_beam_search.h``
(default scorer, no label selection) step for step: the same arithmetic in
the input's dtype and order, and the beam kept in an emulation of
``gtl::TopN`` over libstdc++'s heap and sort routines, so pruning and
equal-score ties come out as TF's do.
"""
from __future__ import annotations

import math
from typing import List, Sequence

import numpy as np

from litesmith.ir.errors import UserError

__all__ = ["ctc_greedy_decoder", "ctc_beam_search_decoder", "DEFAULT_HOST_OPS"]


def ctc_greedy_decoder(inputs, sequence_length, *, merge_repeated=False, blank_index=-1, **_attrs) -> list:
    """TF ``CTCGreedyDecoder``: per step the first max class; log_probability is minus the sum of the max logits."""
    logits, lengths = _check_inputs("CTCGreedyDecoder", inputs, sequence_length)
    max_time, batch, num_classes = logits.shape
    blank = blank_index + num_classes if blank_index < 0 else blank_index
    if not 0 <= blank < num_classes:
        raise UserError(f"CTCGreedyDecoder: blank_index expected to be between {-num_classes} and {num_classes - 1} "
                        f"but was {blank_index}")
    best = logits.argmax(axis=2)                                          # first maximum, as TF's RowMax
    running = np.arange(max_time)[:, None] < lengths[None, :]
    neg_max = np.where(running, -logits.max(axis=2), logits.dtype.type(0))
    log_prob = np.cumsum(neg_max, axis=0, dtype=logits.dtype)[-1]         # sequential sum in the input dtype, as TF
    paths = []
    for b in range(batch):
        steps = best[:max(int(lengths[b]), 0), b]
        keep = steps != blank
        if merge_repeated:
            keep[1:] &= steps[1:] != steps[:-1]
        paths.append([steps[keep].tolist()])
    return _sparse_outputs(paths, 1) + [log_prob.reshape(batch, 1)]


def ctc_beam_search_decoder(inputs, sequence_length, *, beam_width, top_paths, merge_repeated=True, **_attrs) -> list:
    """TF ``CTCBeamSearchDecoder``: prefix beam search over log-softmax of the logits, blank = num_classes - 1.

    ``merge_repeated`` collapses equal neighbours in each returned path
    (a genuine ``a - a`` becomes ``a``), as TF does.
    """
    logits, lengths = _check_inputs("CTCBeamSearchDecoder", inputs, sequence_length)
    beam_width, top_paths = int(beam_width), int(top_paths)
    if beam_width < 1 or top_paths < 1:
        raise UserError(f"CTCBeamSearchDecoder: beam_width ({beam_width}) and top_paths ({top_paths}) must be >= 1")
    if top_paths > beam_width:
        raise UserError("CTCBeamSearchDecoder: requested more paths than the beam width.")
    batch = logits.shape[1]
    paths: List[List[List[int]]] = []
    log_prob = np.zeros((batch, top_paths), logits.dtype)
    for b in range(batch):
        leaves = _beam_search(logits[:max(int(lengths[b]), 0), b], beam_width)
        if top_paths > len(leaves.items):
            raise UserError("CTCBeamSearchDecoder: Less leaves in the beam search than requested.")
        best = _TopN(top_paths)
        for entry in leaves.items:
            best.push(entry)
        ranked = best.extract()
        paths.append([entry.labels(merge_repeated) for entry in ranked])
        log_prob[b] = [entry.total for entry in ranked]
    return _sparse_outputs(paths, top_paths) + [log_prob]


DEFAULT_HOST_OPS = {"CTCGreedyDecoder": ctc_greedy_decoder, "CTCBeamSearchDecoder": ctc_beam_search_decoder}


def _check_inputs(op: str, inputs, sequence_length):
    """TF's ValidateInputsGenerateOutputs checks; logits stay float32/float64, other dtypes become float32."""
    logits = np.asarray(inputs)
    if logits.dtype not in (np.float32, np.float64):
        logits = logits.astype(np.float32)
    lengths = np.asarray(sequence_length).astype(np.int64)
    if logits.ndim != 3:
        raise UserError(f"{op}: inputs is not a 3-Tensor (shape {logits.shape})")
    if logits.size == 0:
        raise UserError(f"{op}: inputs must not be empty (shape {logits.shape})")
    if lengths.ndim != 1 or lengths.shape[0] != logits.shape[1]:
        raise UserError(f"{op}: len(sequence_length) != batch_size: sequence_length shape {lengths.shape}, "
                        f"batch_size {logits.shape[1]}")
    too_long = np.flatnonzero(lengths > logits.shape[0])
    if too_long.size:
        raise UserError(f"{op}: sequence_length({too_long[0]}) <= {logits.shape[0]} does not hold")
    return logits, lengths


def _sparse_outputs(paths: Sequence[Sequence[Sequence[int]]], top_paths: int) -> list:
    """paths[b][p] -> [indices per path] + [values per path] + [dense shape per path], int64 as TF."""
    indices, values, shapes = [], [], []
    for p in range(top_paths):
        rows = [(b, t) for b, per_batch in enumerate(paths) for t in range(len(per_batch[p]))]
        indices.append(np.asarray(rows, np.int64).reshape(-1, 2))
        values.append(np.asarray([v for per_batch in paths for v in per_batch[p]], np.int64))
        shapes.append(np.asarray([len(paths), max((len(pb[p]) for pb in paths), default=0)], np.int64))
    return indices + values + shapes


# --- beam search -----------------------------------------------------------------------------------------------

_NEG_INF = -math.inf


class _Entry:
    """A prefix in the beam tree (TF's BeamEntry): new and old log-probabilities split by last emission."""

    __slots__ = ("parent", "label", "children", "total", "blank", "lab", "old_total", "old_blank", "old_lab")

    def __init__(self, parent, label, zero):
        self.parent, self.label, self.children = parent, label, {}
        self.total = self.blank = self.lab = zero
        self.old_total = self.old_blank = self.old_lab = zero

    def active(self) -> bool:
        return self.total != _NEG_INF

    def reset(self, zero) -> None:
        self.total = self.blank = self.lab = zero

    def labels(self, merge_repeated: bool) -> List[int]:
        out, prev, node = [], -1, self
        while node.parent is not None:
            if not merge_repeated or node.label != prev:
                out.append(node.label)
            prev, node = node.label, node.parent
        return out[::-1]


def _beam_search(steps: np.ndarray, beam_width: int) -> "_TopN":
    """Run TF's CTCBeamSearchDecoder::Step over ``steps`` [time, classes]; return the final leaves."""
    dtype = steps.dtype.type
    neg_inf = dtype(_NEG_INF)
    num_classes = steps.shape[1] if steps.size else 0
    root = _Entry(None, -1, neg_inf)
    root.total = root.blank = dtype(0)
    leaves = _TopN(beam_width)
    leaves.push(root)
    if not len(steps):
        return leaves
    blank = num_classes - 1
    for raw in steps:
        max_coeff = raw.max()
        # TF's log-softmax offset: max + log(sum(exp(x - max))), summed class by class in the input dtype
        shifted = np.exp((raw - max_coeff).astype(np.float64)).astype(raw.dtype)
        total = np.cumsum(shifted, dtype=raw.dtype)[-1]
        norm = dtype(max_coeff + (dtype(_logf(float(total))) if dtype is np.float32 else dtype(math.log(total))))
        log_probs = raw - norm
        branches = leaves.extract()
        for b in branches:
            b.old_total, b.old_blank, b.old_lab = b.total, b.blank, b.lab
        for b in branches:
            if b.parent is not None:
                if b.parent.active():
                    prev = b.parent.old_blank if b.label == b.parent.label else b.parent.old_total
                    b.lab = _log_sum_exp(b.lab, prev)
                b.lab = dtype(b.lab + log_probs[b.label])
            b.blank = dtype(dtype(b.old_total + raw[blank]) - norm)
            b.total = _log_sum_exp(b.blank, b.lab)
            leaves.push(b)
        for b in branches:
            _grow(b, log_probs[:blank], leaves, beam_width, neg_inf)
    return leaves


def _grow(b: _Entry, label_log_probs: np.ndarray, leaves: "_TopN", beam_width: int, neg_inf) -> None:
    """Offer every one-label extension of ``b`` to the beam, in class order, as TF's grow loop."""
    if not _is_candidate(b.old_total, leaves, beam_width):
        return
    scores = label_log_probs + b.old_total                                 # (logit - norm) + previous, per class
    if b.label >= 0 and b.label < len(scores):
        scores[b.label] = label_log_probs[b.label] + b.old_blank           # a repeat needs a blank in between
    floor = leaves.peek_bottom().total if len(leaves.items) >= beam_width else neg_inf
    # The bottom only rises while the beam fills, so a class at or below it now can never enter: visit only the
    # others, plus the existing children in class order, since TF deactivates an inactive child it rejects and
    # that clears the old score its own grow turn reads (so a leaf pushed out earlier in this step loses its turn).
    passing = scores > floor
    labels = np.flatnonzero(passing).tolist()
    if b.children:
        labels = sorted(set(labels).union(b.children))
    for label in labels:
        child = b.children.get(label)
        if child is not None and child.active():
            continue
        score = scores[label]
        if not passing[label] or not _is_candidate(score, leaves, beam_width):
            if child is not None:
                child.reset(neg_inf)
                child.old_total = child.old_blank = child.old_lab = neg_inf
            continue
        if child is None:
            child = b.children[label] = _Entry(b, label, neg_inf)
        child.blank, child.lab, child.total = neg_inf, score, score
        if len(leaves.items) == beam_width:
            leaves.peek_bottom().reset(neg_inf)                               # falls out of the beam
        leaves.push(child)


def _is_candidate(total, leaves: "_TopN", beam_width: int) -> bool:
    return total > _NEG_INF and (len(leaves.items) < beam_width or total > leaves.peek_bottom().total)


def _log_sum_exp(a, b):
    """TF's LogSumExp: the correction term is always log1pf(expf(.)) in float, even for double inputs."""
    if a == _NEG_INF:
        return b
    if b == _NEG_INF:
        return a
    hi, lo = (a, b) if a > b else (b, a)
    return type(a)(hi + np.float32(_log1pf(_expf(float(np.float32(lo - hi))))))


def _float_libm(name: str, fallback):
    """The C library's float function (TF's kernels call it), else ``fallback`` rounded from double.

    glibc's log1pf is not correctly rounded; calling it keeps equal scores equal exactly where TF's are.
    """
    try:
        import ctypes
        import ctypes.util

        fn = getattr(ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6"), name)
        fn.restype, fn.argtypes = ctypes.c_float, [ctypes.c_float]
        return fn
    except (ImportError, OSError, AttributeError, TypeError):
        return lambda x: float(np.float32(fallback(x)))


_expf = _float_libm("expf", math.exp)
_log1pf = _float_libm("log1pf", math.log1p)
_logf = _float_libm("logf", math.log)


# --- gtl::TopN with libstdc++'s algorithms --------------------------------------------------------------------
# The comparator is TF's BeamComparer, ``a.total > b.total`` (written out inline): sorts put the best first,
# heaps keep the worst at the front.

_UNORDERED, _BOTTOM_KNOWN, _HEAP_SORTED = range(3)


class _TopN:
    """tensorflow::gtl::TopN<BeamEntry*, BeamComparer>: keeps the ``limit`` best entries, TF's states and all."""

    def __init__(self, limit: int):
        self.limit, self.items, self.state = limit, [], _UNORDERED

    def push(self, v: _Entry) -> None:
        items = self.items
        if self.state != _HEAP_SORTED:
            items.append(v)
            if len(items) == self.limit + 1:
                _make_heap(items, 0, len(items))
                _pop_heap(items, 0, len(items))
                items.pop()
                self.state = _HEAP_SORTED
            elif self.state == _BOTTOM_KNOWN and not items[-1].total > items[0].total:
                items[0], items[-1] = items[-1], items[0]
        elif v.total > items[0].total:
            _pop_heap(items, 0, len(items))
            items[-1] = v
            _push_heap(items, 0, len(items) - 1, 0, v)

    def peek_bottom(self) -> _Entry:
        items = self.items
        if self.state == _UNORDERED:
            low = 0
            for i in range(1, len(items)):
                if items[low].total > items[i].total:
                    low = i
            items[0], items[low] = items[low], items[0]
            self.state = _BOTTOM_KNOWN
        return items[0]

    def extract(self) -> List[_Entry]:
        out, self.items = self.items, []
        if self.state != _HEAP_SORTED:
            _std_sort(out, 0, len(out))
        else:
            _sort_heap(out, 0, len(out))
        self.state = _UNORDERED
        return out


def _push_heap(a, first, hole, top, value) -> None:
    parent = (hole - 1) // 2
    while hole > top and a[first + parent].total > value.total:
        a[first + hole] = a[first + parent]
        hole = parent
        parent = (hole - 1) // 2
    a[first + hole] = value


def _adjust_heap(a, first, hole, length, value) -> None:
    top, child = hole, hole
    while child < (length - 1) // 2:
        child = 2 * (child + 1)
        if a[first + child].total > a[first + child - 1].total:
            child -= 1
        a[first + hole] = a[first + child]
        hole = child
    if length % 2 == 0 and child == (length - 2) // 2:
        child = 2 * (child + 1)
        a[first + hole] = a[first + child - 1]
        hole = child - 1
    _push_heap(a, first, hole, top, value)


def _make_heap(a, first, last) -> None:
    length = last - first
    if length < 2:
        return
    for parent in range((length - 2) // 2, -1, -1):
        _adjust_heap(a, first, parent, length, a[first + parent])


def _pop_heap(a, first, last) -> None:
    if last - first > 1:
        last -= 1
        value = a[last]
        a[last] = a[first]
        _adjust_heap(a, first, 0, last - first, value)


def _sort_heap(a, first, last) -> None:
    while last - first > 1:
        _pop_heap(a, first, last)
        last -= 1


def _std_sort(a, first, last) -> None:
    """libstdc++ std::sort (introsort, then insertion sort), which decides the order of equal scores."""
    if last - first > 1:
        _introsort_loop(a, first, last, 2 * ((last - first).bit_length() - 1))
        _final_insertion_sort(a, first, last)


_THRESHOLD = 16


def _introsort_loop(a, first, last, depth) -> None:
    while last - first > _THRESHOLD:
        if depth == 0:
            _make_heap(a, first, last)
            _sort_heap(a, first, last)
            return
        depth -= 1
        mid = first + (last - first) // 2
        _move_median_to_first(a, first, first + 1, mid, last - 1)
        cut = _unguarded_partition(a, first + 1, last, first)
        _introsort_loop(a, cut, last, depth)
        last = cut


def _move_median_to_first(a, result, x, y, z) -> None:
    if a[x].total > a[y].total:
        pick = y if a[y].total > a[z].total else (z if a[x].total > a[z].total else x)
    else:
        pick = x if a[x].total > a[z].total else (z if a[y].total > a[z].total else y)
    a[result], a[pick] = a[pick], a[result]


def _unguarded_partition(a, first, last, pivot) -> int:
    while True:
        while a[first].total > a[pivot].total:
            first += 1
        last -= 1
        while a[pivot].total > a[last].total:
            last -= 1
        if not first < last:
            return first
        a[first], a[last] = a[last], a[first]
        first += 1


def _final_insertion_sort(a, first, last) -> None:
    if last - first > _THRESHOLD:
        _insertion_sort(a, first, first + _THRESHOLD)
        for i in range(first + _THRESHOLD, last):
            _unguarded_linear_insert(a, i)
    else:
        _insertion_sort(a, first, last)


def _insertion_sort(a, first, last) -> None:
    for i in range(first + 1, last):
        if a[i].total > a[first].total:
            value = a[i]
            a[first + 1:i + 1] = a[first:i]
            a[first] = value
        else:
            _unguarded_linear_insert(a, i)


def _unguarded_linear_insert(a, last) -> None:
    value = a[last]
    prev = last - 1
    while value.total > a[prev].total:
        a[last] = a[prev]
        last = prev
        prev -= 1
    a[last] = value

