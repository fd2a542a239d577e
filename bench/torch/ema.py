"""clnn-bench family "ema": the twin is in optim.py (compare.py imports by family name)."""
from optim import make_ema as make  # noqa: F401
