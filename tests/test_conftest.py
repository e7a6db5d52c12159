"""``make test`` cannot pass with the parity tests skipped (see tests/conftest.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

_SKIPPING_TEST = """
import pytest

def test_needs_a_missing_module():
    pytest.importorskip("refimpl_no_such_module")
"""


@pytest.mark.parametrize(("required", "status"), [("1", 1), ("", 0)])
def test_an_import_skip_fails_when_keras_is_required(
    tmp_path: Path, required: str, status: int
) -> None:
    """With REFIMPL_REQUIRE_KERAS=1 (as ``make test`` sets it) a test that would skip
    for a failed import fails the run; without it the test skips and the run passes."""
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_skip.py").write_text(_SKIPPING_TEST)
    env = {**os.environ, "REFIMPL_REQUIRE_KERAS": required}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == status, run.stdout + run.stderr
    assert ("1 failed" if required else "1 skipped") in run.stdout


def test_make_test_requires_keras() -> None:
    makefile = (Path(__file__).parents[1] / "Makefile").read_text()
    assert "REFIMPL_REQUIRE_KERAS=1 $(PY) -m pytest" in makefile
