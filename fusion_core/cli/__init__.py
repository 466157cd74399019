"""The ``fusion-explorer`` command line: everything the app can do, from a terminal.

Each group of subcommands lives in its own module with a ``register(subparsers)``
function; a subcommand's handler takes the parsed arguments and returns an exit
status. Bad input raises ``FusionExplorerError``; ``main`` prints it (or an
``OSError`` on a file the user named) as one ``error: …`` line on stderr and
exits 2, with no traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fusion_core.errors import FusionExplorerError, user_message

SUBCOMMAND_MODULES = ("data_commands", "model_commands", "analysis_commands")


class _OneLineErrorParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would print the whole usage block
        print(f"error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = _OneLineErrorParser(
        prog="fusion-explorer",
        description="Explore multi-modal data fusion: datasets, fusion methods, training and comparison.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_OneLineErrorParser)
    for module_name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(f"fusion_core.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"fusion_core.cli.{module_name}":
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    try:
        return int(args.handler(args) or 0)
    except FusionExplorerError as exc:
        print(f"error: {user_message(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file or folder the user named cannot be read or written
        print(
            f"error: cannot use {exc.filename or 'a file'}: {exc.strerror or exc}; check the path",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
