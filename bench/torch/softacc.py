"""PyTorch twin of clnn-bench "softacc" (defined in loss.py)."""
from loss import make_softacc as make  # noqa: F401
