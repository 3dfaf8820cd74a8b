"""Core op declarations. Each module registers its ops on import."""
from . import structural  # noqa: F401  (const, identity, while, if)
from . import elementwise, index_ops, linalg, nn, reduce, shape_ops, tensor_list  # noqa: F401
