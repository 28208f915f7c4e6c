"""The Textual operator console; talks to a node over HTTP only.

Importing the package keeps httpx's command line out of the console's process: httpx's
`__init__` imports `httpx._main` when click, pygments and rich are installed (they are: uvicorn
and textual bring them), and that module imports click, pygments' lexers and rich's progress,
syntax and table modules, ~10% of the console's import CPU
(docs/performance/2026-12-04-console-without-httpx-cli.md). The console never runs that
command line, so a stand-in whose `main` says so is registered before httpx is first imported;
a process that imported httpx before this package is left as it is.
"""

import sys
import types


def _httpx_cli_unavailable() -> None:
    """Stand-in for httpx's command line, which the console does not load."""
    raise SystemExit("httpx's command line is not loaded in the Stallbox console's process")


def _skip_httpx_cli() -> None:
    """Register the stand-in `httpx._main`, unless httpx (or its CLI) is already imported."""
    if "httpx" in sys.modules or "httpx._main" in sys.modules:
        return
    stub = types.ModuleType("httpx._main", _httpx_cli_unavailable.__doc__)
    setattr(stub, "main", _httpx_cli_unavailable)  # noqa: B010 (a module built at run time)
    sys.modules["httpx._main"] = stub


_skip_httpx_cli()
