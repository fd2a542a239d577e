"""clnn-bench family "adamw": the twin is in optim.py (compare.py imports by family name)."""
from optim import make_adamw as make  # noqa: F401
