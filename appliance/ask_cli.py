"""One question before a shell command that cannot be taken back: rekey, revoke, close.

The console asks before a void or a cancel (tui/screens/confirm.py); the shell asked nothing, so
a line recalled from the history or pasted from the runbook rotated the device key, signed every
console out or signed the day's close at once. Such a command now says what it will do and goes
on only when the vendor types its word back; from a script (stdin not a terminal) only with
`--yes`, and otherwise it exits USAGE naming the flag. Nothing is done unless it goes on.
"""

from __future__ import annotations

import argparse
import sys


def add_yes(parser: argparse.ArgumentParser, what: str) -> None:
    """Give `parser` the `--yes` flag that answers the question for a script."""
    parser.add_argument("--yes", action="store_true", help=f"{what} without asking (scripts)")


def go_ahead(args: argparse.Namespace, command: str, what: str, word: str) -> bool:
    """True if the vendor agreed: `--yes`, or `word` typed back on a terminal; else says why."""
    if getattr(args, "yes", False):
        return True
    if not sys.stdin.isatty():
        print(f"{command}: this {what} and cannot be undone; run it from a terminal to be "
              "asked, or add --yes", file=sys.stderr)  # fmt: skip
        return False
    print(f"{command}: this {what} and cannot be undone.", file=sys.stderr)
    print(f'Type "{word}" to go on, anything else to stop: ', end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline().strip()
    if answer == word:
        return True
    print(f"{command}: nothing done", file=sys.stderr)
    return False
