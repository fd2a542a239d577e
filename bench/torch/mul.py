"""PyTorch twin of clnn-bench "mul" (defined in eltwise.py)."""
from eltwise import make_mul as make  # noqa: F401
