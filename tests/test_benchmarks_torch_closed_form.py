"""benchmarks/torch_closed_form.py: the README's table is its output, row for row.

The replay it measures is proven equal to torch bit for bit by the parity tests, so
this NumPy-only computation is torch's distance from its own closed form.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "torch_closed_form", ROOT / "benchmarks" / "torch_closed_form.py"
)
script = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(script)  # type: ignore[union-attr]

START = "<!-- torch-closed-form-table: the output of benchmarks/torch_closed_form.py -->"
END = "<!-- end of torch-closed-form-table -->"


def test_readme_table_is_the_scripts_output() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split(START, 1)[1].split(END, 1)[0].strip().splitlines()
    assert table == script.rows()


def test_the_table_covers_every_scheduler_with_a_step_replay() -> None:
    from refimpl.torch.lr_scheduler import SCHEDULERS

    covered = {label.split("(", 1)[0] for label, _, _ in script.CASES}
    assert covered == set(SCHEDULERS) - {"ReduceLROnPlateau"}
