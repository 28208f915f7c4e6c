"""Errors shared across the appliance's edges (config, state dir) and the CLI's exit codes."""

import re
from enum import IntEnum

_AT = re.compile(r"^(?P<problem>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<name>[^`]+)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]+)`$")


class ExitCode(IntEnum):
    """Exit codes of every `stallbox` subcommand."""

    OK = 0
    FAILED = 1  # the command ran and found a problem (a broken chain, a refused sale)
    USAGE = 2  # bad arguments
    CONFIG = 3  # the config file is unreadable or invalid
    STATE = 4  # the state dir, key file or database is unusable, foreign or in use
    UNAVAILABLE = 5  # the address or port to listen on is taken or not allowed
    INTERRUPTED = 130


class StallboxError(Exception):
    """An error the CLI reports as one line and an exit code, never as a traceback."""

    exit_code = ExitCode.FAILED


class ConfigError(StallboxError):
    """The config file is unreadable or invalid; the message names the file and the key."""

    exit_code = ExitCode.CONFIG

    def __init__(self, path: object, field: str, problem: str) -> None:
        self.path = str(path)
        self.field = field
        self.problem = problem
        where = f"{self.path}: {field}" if field else self.path
        super().__init__(f"{where}: {problem}")


class StateError(StallboxError):
    """The state dir, its key file or its database cannot be used; the message names the file."""

    exit_code = ExitCode.STATE


class ListenError(StallboxError):
    """The socket to serve on cannot be bound (port in use, address not on this machine)."""

    exit_code = ExitCode.UNAVAILABLE


def field_and_problem(message: str, prefix: str = "") -> tuple[str, str]:
    """Split msgspec's "Expected `int`, got `str` - at `$.a.b`" into ("a.b", "expected `int`, ...").

    An unknown field becomes ("a.b.name", "unknown key"), so every error names the field itself.
    """
    match = _AT.match(message)
    assert match is not None  # the pattern matches any text
    problem, where = match["problem"], (prefix + (match["path"] or "")).lstrip(".")
    for pattern, meaning in ((_UNKNOWN, "unknown key"), (_MISSING, "missing")):
        if named := pattern.match(problem):
            where = f"{where}.{named['name']}" if where else named["name"]
            problem = meaning
    return where, problem[:1].lower() + problem[1:]


def config_field_error(path: object, message: str, prefix: str = "") -> ConfigError:
    """The ConfigError for msgspec's validation `message` of a table under `prefix`, naming its key."""
    return ConfigError(path, *field_and_problem(message, prefix))
