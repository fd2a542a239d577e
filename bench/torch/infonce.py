"""PyTorch twin of clnn-bench "infonce" (defined in loss.py)."""
from loss import make_infonce as make  # noqa: F401
