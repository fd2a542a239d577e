"""clnn-bench family "sgd": the twin is in optim.py (compare.py imports by family name)."""
from optim import make_sgd as make  # noqa: F401
