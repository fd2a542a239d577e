"""clnn-bench family "adam": the twin is in optim.py (compare.py imports by family name)."""
from optim import make_adam as make  # noqa: F401
