"""README.md's command-line examples print what README shows.

Every ```console block whose first line is ``$ lr-refimpl ...`` (continued with `` \\``)
is run through :func:`refimpl.cli.main`; its standard output must be the rest of the
block, line for line.  (README's Python examples are doctests, run by pytest's
``--doctest-glob``; the values themselves are checked against independent computations
in the tests of each command, e.g. test_cli_table.)
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from refimpl.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```console\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _examples() -> list[tuple[str, list[str]]]:
    found = []
    for block in BLOCK.findall(README.read_text()):
        lines = block.splitlines()
        command = lines.pop(0)
        while command.endswith("\\"):
            command = command[:-1] + lines.pop(0)
        if command.startswith("$ lr-refimpl "):
            found.append((command[2:], lines))
    return found


EXAMPLES = _examples()


def test_readme_has_console_examples() -> None:
    assert any(command.startswith("lr-refimpl table ") for command, _ in EXAMPLES)


@pytest.mark.parametrize(("command", "shown"), EXAMPLES, ids=[c[:40] for c, _ in EXAMPLES])
def test_readme_console_example_is_the_command_output(
    command: str, shown: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(shlex.split(command)[1:]) == 0
    assert capsys.readouterr().out.splitlines() == shown
