import os
import sys

import pytest

# The package from this checkout, whatever the current directory.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
torch.manual_seed(0)
