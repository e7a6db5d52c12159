"""The ``lr-refimpl`` command line.

Each subcommand is a module with ``add_parser(subparsers)`` and ``run(args) -> int``.
A mistake in the input (a bad name, value, file or combination of options) ends with
one line ``lr-refimpl: error: ...`` on standard error and exit status 2; warnings are
one line ``lr-refimpl: warning: ...`` each.  Anything else that goes wrong is a bug and
shows its traceback (see :mod:`refimpl.cli.common`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from refimpl._version import __version__
from refimpl.cli.common import ArgumentParser, CommandError, one_line, warnings_as_text

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


def build_parser() -> argparse.ArgumentParser:
    """The ``lr-refimpl`` parser with every subcommand."""
    parser = ArgumentParser(
        prog="lr-refimpl",
        description="Keras learning-rate schedules, exact, in NumPy: values, tables, parity.",
    )
    parser.add_argument("--version", action="version", version=f"lr-refimpl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMANDS:
        importlib.import_module(module_name).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``lr-refimpl`` with ``argv`` (default ``sys.argv[1:]``); return the exit status:
    0 done, 1 a check found a difference (``parity``), 2 bad input, 130 interrupted.

    ``--help`` and ``--version`` print and return 0; nothing here calls ``sys.exit``.
    """
    try:
        with warnings_as_text():
            return _run(argv)
    except CommandError as exc:
        print(f"lr-refimpl: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # argparse's --help and --version
        return 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
    except KeyboardInterrupt:
        print("lr-refimpl: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `lr-refimpl table ... | head`: the reader has gone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _run(argv: Sequence[str] | None) -> int:
    for arg in sys.argv[1:] if argv is None else argv:
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:  # bytes the locale could not decode (surrogateescape)
            raise CommandError(f"an argument is not valid UTF-8 text: {arg!r}") from None
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "takes_schedule_options", False):
        where = f"{args.command}: " if args.command else ""
        parser.error(f"{where}unrecognized arguments: {' '.join(extra)}")
    if args.command is None:
        parser.print_help()
        return 2
    args.options = extra
    status: int = args.run(args)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
