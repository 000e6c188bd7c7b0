"""`lvyue serve`: the HTTP API (and pages) under uvicorn, built by the app factory per worker."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn
from fastapi import FastAPI

from api.app import create_app
from lvyue.settings import Settings


def factory() -> FastAPI:
    """The application on the configured store (uvicorn calls this in each worker)."""
    return create_app(Settings.from_env())


def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="worker processes")] = 1,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) on the configured store."""
    typer.echo(f"lvyue API on http://{host}:{port}/api  (OpenAPI: http://{host}:{port}/docs)")
    uvicorn.run("lvyue.serve:factory", factory=True, host=host, port=port, workers=workers)
