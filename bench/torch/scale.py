"""PyTorch twin of clnn-bench "scale" (defined in eltwise.py)."""
from eltwise import make_scale as make  # noqa: F401
