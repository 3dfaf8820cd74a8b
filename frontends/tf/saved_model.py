"""SavedModel directories and Keras files (.keras, .h5): TensorFlow freezes one function, the GraphDef path lifts it.

TensorFlow is asked for one thing only: to freeze the chosen signature (or
the Keras model's call on its declared inputs) with
``convert_variables_to_constants_v2`` and its defaults, as a user would.
The GraphDef it returns goes through the same lifter as a ``.pb`` file; no
TF code runs after that. Graph inputs and outputs are named after the
signature's keys (a Keras model's input and output names). Listing a
SavedModel's signatures reads ``saved_model.pb`` with litesmith's own schema
and needs no TensorFlow.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from google.protobuf import message
from litesmith.ir.errors import UserError
from litesmith.ir.graph import Graph
from litesmith.ir.io_override import override_io

from . import proto
from .convert import dtype_name, to_dtype

DEFAULT_SIGNATURE = "serving_default"
TF_EXTRA = "pip install 'litesmith[tf]'"
_INIT_OP = "__saved_model_init_op"


class TensorFlowMissing(UserError):
    """A SavedModel or Keras file was given and TensorFlow is not installed."""


def is_saved_model(path: str) -> bool:
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, "saved_model.pb"))


# -- signatures, without TensorFlow -------------------------------------------------------------


@dataclass
class TensorSig:
    key: str
    dtype: str
    shape: Optional[List[Optional[int]]]  # None: unknown rank


@dataclass
class Signature:
    name: str
    inputs: List[TensorSig]
    outputs: List[TensorSig]


def read_signatures(path: str) -> List[Signature]:
    """The signatures of the ``serve`` meta graph in ``path/saved_model.pb``, sorted by name."""
    pb = os.path.join(path, "saved_model.pb")
    try:
        with open(pb, "rb") as f:
            saved = proto.SavedModel.FromString(f.read())
    except OSError as e:
        raise UserError(f"{pb}: cannot read ({e.strerror})") from None
    except message.DecodeError as e:
        raise UserError(f"{pb}: not a valid SavedModel ({e})") from None
    metas = [m for m in saved.meta_graphs if "serve" in m.meta_info_def.tags] or list(saved.meta_graphs)
    if not metas:
        raise UserError(f"{pb}: no meta graph; the SavedModel is empty")
    sigs = []
    for name in sorted(metas[0].signature_def):
        if name == _INIT_OP:
            continue
        sd = metas[0].signature_def[name]
        sigs.append(Signature(name, [_tensor_sig(k, sd.inputs[k]) for k in sorted(sd.inputs)],
                              [_tensor_sig(k, sd.outputs[k]) for k in sorted(sd.outputs)]))
    return sigs


def _tensor_sig(key: str, info) -> TensorSig:
    try:
        dtype = str(to_dtype(info.dtype, key))
    except UserError:
        dtype = dtype_name(info.dtype)
    shape = None if info.tensor_shape.unknown_rank else [None if d.size < 0 else int(d.size) for d in info.tensor_shape.dim]
    return TensorSig(key, dtype, shape)


# -- freezing, with TensorFlow --------------------------------------------------------------------


def _import_tf(path: str, what: str):
    """TensorFlow, or a one-line TensorFlowMissing naming the extra to install."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no C++ start-up chatter on stderr
    try:
        import tensorflow as tf
    except ImportError:
        raise TensorFlowMissing(f"{path}: reading {what} needs TensorFlow to freeze it; {TF_EXTRA}") from None
    return tf


def _freeze(tf, concrete) -> Tuple[bytes, List[str], List[str]]:
    """(serialized frozen GraphDef, input placeholder names, output node names) of a concrete function."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    frozen = convert_variables_to_constants_v2(concrete)
    inputs = [t.op.name for t in frozen.inputs if t.dtype != tf.resource]
    outputs = [t.op.name for t in frozen.outputs]
    return frozen.graph.as_graph_def().SerializeToString(), inputs, outputs


def freeze_saved_model(path: str, signature: str) -> Tuple[bytes, List[str], List[str], List[str], List[str]]:
    """Freeze ``signature`` of the SavedModel at ``path``: (GraphDef bytes, placeholder names, output
    node names, input keys, output keys), keys in the order of the names."""
    names = [s.name for s in read_signatures(path)]
    if signature not in names:
        raise UserError(f"{path}: no signature {signature!r}; it has {', '.join(names) or 'none'} (choose with --signature)")
    tf = _import_tf(path, "a SavedModel")
    try:
        loaded = tf.saved_model.load(path)  # kept referenced: the signature's variables live in it
    except Exception as e:  # TF's own loading error: a broken or incompatible SavedModel
        raise UserError(f"{path}: TensorFlow cannot load this SavedModel: {_first_line(e)}") from None
    fn = loaded.signatures[signature]
    data, inputs, outputs = _freeze(tf, fn)
    _, kwargs = fn.structured_input_signature
    in_keys = sorted(kwargs)  # tf.nest order: the order of the function's placeholders
    out_keys = sorted(fn.structured_outputs) if isinstance(fn.structured_outputs, dict) else []
    return data, inputs, outputs, in_keys, out_keys


def freeze_keras(path: str) -> Tuple[bytes, List[str], List[str], List[str], List[str]]:
    """Freeze a Keras model file's call on its declared inputs (batch dims stay unknown; set them
    with --input-shape). Keras 3 reads both formats; tf_keras is tried for .h5 files it refuses."""
    tf = _import_tf(path, "a Keras file")
    model = _load_keras(tf, path)
    specs = [tf.TensorSpec(t.shape, t.dtype, name=_input_name(t)) for t in (model.inputs or [])]
    if not specs:
        raise UserError(f"{path}: the Keras model declares no inputs (a subclassed model that was never built); "
                        "save a functional or Sequential model, or export a SavedModel")
    single = len(specs) == 1
    concrete = tf.function(lambda *xs: model(xs[0] if single else list(xs), training=False)).get_concrete_function(*specs)
    data, inputs, outputs = _freeze(tf, concrete)
    out_keys = list(getattr(model, "output_names", None) or [])
    return data, inputs, outputs, [s.name for s in specs], out_keys if len(out_keys) == len(outputs) else []


def _load_keras(tf, path: str):
    import keras  # Keras 3 comes with TensorFlow

    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as e:
        first = e
    if path.lower().endswith((".h5", ".hdf5")):
        try:
            import tf_keras

            return tf_keras.models.load_model(path, compile=False)
        except Exception:
            pass
    raise UserError(f"{path}: Keras cannot load this model: {_first_line(first)}") from None


def _input_name(t) -> str:
    return str(getattr(t, "name", "") or "input").split(":")[0]


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


# -- lifting -------------------------------------------------------------------------------------


def load_frozen(path: str, *, signature: Optional[str] = None, inputs: Optional[Sequence[str]] = None,
                outputs: Optional[Sequence[str]] = None,
                input_shapes: Optional[Mapping[str, Sequence[Optional[int]]]] = None) -> Graph:
    """Freeze a SavedModel signature (default ``serving_default``) or a Keras file, lift it, and name
    the graph's inputs and outputs after the signature's keys; then apply the I/O overrides."""
    from .lift import lift_graphdef

    if is_saved_model(path):
        chosen = signature or DEFAULT_SIGNATURE
        data, tf_inputs, tf_outputs, in_keys, out_keys = freeze_saved_model(path, chosen)
        where = f"{path} (signature {chosen})"
    else:
        if signature:
            raise UserError(f"{path}: --signature applies to SavedModel directories, not Keras files")
        data, tf_inputs, tf_outputs, in_keys, out_keys = freeze_keras(path)
        where = path
    gd = proto.GraphDef.FromString(data)
    name = os.path.splitext(os.path.basename(os.path.normpath(path)))[0] or "main"
    graph = lift_graphdef(gd, where, inputs=tf_inputs, outputs=tf_outputs, graph_name=name)
    _rename(graph.inputs, in_keys)
    _rename(graph.outputs, out_keys)
    if inputs is not None or outputs is not None or input_shapes:
        override_io(graph, inputs=inputs, outputs=outputs, input_shapes=input_shapes)
    return graph


def _rename(values, keys: Sequence[str]) -> None:
    """Name ``values`` after ``keys`` where the counts agree and no other value has the name."""
    if len(keys) != len(values) or len(set(keys)) != len(keys):
        return
    graph = values[0].graph if values else None
    taken: Dict[str, object] = {v.name: v for v in graph.values()} if graph is not None else {}
    for v, key in zip(values, keys):
        if key and (taken.get(key) is None or taken.get(key) is v):
            taken.pop(v.name, None)
            v.name = key
            taken[key] = v
