"""Core op declarations. Each module registers its ops on import."""
from . import structural  # noqa: F401  (const, identity, while, if)
