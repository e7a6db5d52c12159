import sys

sys.path.insert(0, "/work/main")
from tests._mode_parity import make_parity_test
from hypothesis import settings
import pytest

test_eager = make_parity_test("eager")
