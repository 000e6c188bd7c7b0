"""How a command-line command stops with a message: on stderr, then its exit code.

Exit codes shared by the commands: 0 done, 1 refused (the reason is printed), 2 usage or
configuration.
"""

from __future__ import annotations

from typing import NoReturn

import typer

REFUSED = 1
USAGE = 2


def exit_with(message: str, code: int = REFUSED) -> NoReturn:
    """Print `message` on stderr and exit with `code`."""
    typer.echo(message, err=True)
    raise typer.Exit(code)
