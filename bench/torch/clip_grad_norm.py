"""clnn-bench family "clip_grad_norm": the twin is in optim.py (compare.py imports by family name)."""
from optim import make_clip_grad_norm as make  # noqa: F401
