"""PyTorch twin of clnn-bench "add" (defined in eltwise.py)."""
from eltwise import make_add as make  # noqa: F401
