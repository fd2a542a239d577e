"""compare.py's twin of clnn-bench "roi_pool": see roi.py."""
from roi import make_op


def make(keys, flags, bias, pass_):
    return make_op("roi_pool", keys, flags, bias, pass_)
