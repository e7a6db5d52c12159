"""The ``lr-refimpl`` command line.

Each subcommand is a module with ``add_parser(subparsers)`` and ``run(args) -> int``.
Bad names, values or files end with a one-line ``lr-refimpl: error: ...`` on stderr and
exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from refimpl._version import __version__

__all__ = ["CommandError", "build_parser", "main"]

#: Subcommand modules, in the order ``--help`` lists them.
SUBCOMMANDS = (
    "refimpl.cli.tutorial",
    "refimpl.cli.explain",
    "refimpl.cli.plot",
    "refimpl.cli.table",
    "refimpl.cli.translate",
    "refimpl.cli.parity",
    "refimpl.cli.demo",
)


class CommandError(Exception):
    """A user error: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lr-refimpl",
        description="Keras learning-rate schedules, exact, in NumPy: values, tables, parity.",
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"lr-refimpl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMANDS:
        importlib.import_module(module_name).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``lr-refimpl`` with ``argv``; return the exit status."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "takes_schedule_options", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.options = extra
    if args.command is None:
        parser.print_help()
        return 2
    try:
        status: int = args.run(args)
    except (CommandError, ValueError, TypeError, FileNotFoundError, OSError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"lr-refimpl: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lr-refimpl: interrupted", file=sys.stderr)
        return 130
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
