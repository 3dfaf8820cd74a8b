"""litesmith.ir: graphs, values, types, the op registry and the reference interpreter.

Nothing here imports from frontends, passes or backends.
"""
from .builder import Builder, as_array, infer_types
from .dtypes import DType
from .errors import ParseError, UserError, VerifyError
from .graph import Graph, IRError, Node, Use, Value
from .interpreter import Interpreter, InterpreterError, register_foreign_kernel, run
from .verify import verify
from .registry import REQUIRED, Attr, InferContext, InferError, OpDef, all_ops, canonicalization_pattern, defop, get_op
from .io_override import override_io
from .reinfer import reinfer
from .text import load_ir, parse_ir, print_ir, save_ir
from .types import ElidedTensor, QuantParams, TensorType, is_static, make_shape, num_elements

__all__ = [
    "Attr", "Builder", "ParseError", "UserError", "VerifyError", "DType", "ElidedTensor", "Graph", "IRError", "InferContext", "InferError", "Interpreter",
    "InterpreterError", "Node", "OpDef", "QuantParams", "REQUIRED", "TensorType", "Use", "Value", "all_ops",
    "as_array", "canonicalization_pattern", "defop", "get_op", "infer_types", "is_static", "make_shape",
    "num_elements", "register_foreign_kernel", "run",
    "load_ir", "override_io", "parse_ir", "print_ir", "reinfer", "save_ir", "verify",
]
