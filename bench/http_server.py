"""One server for figure 11, run as its own process: `python -m bench.http_server KIND DB PORT`.

`ledger`: the API exactly as `lvyue serve` builds it (`api.app.create_app(Settings)` on an
SQLite file, embedded projections caught up by the next read), plus an administrator API
token written to `DB.token`. `bare`: a FastAPI app whose one endpoint validates the same body
model (`api.routers.commands_staff.OnboardStaff`) and returns a command result without writing.
Both are served by uvicorn with one worker, access log off, on 127.0.0.1.
(No `from __future__ import annotations` here: FastAPI must see the body model itself, not a
string naming a model that is only imported inside the function.)
"""

import sys
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI


def ledger_app(db: Path) -> FastAPI:
    from api.app import create_app
    from api.auth import Grant
    from lvyue.settings import Settings

    settings = Settings(database_url=f"sqlite:///{db}", signing_key_path=str(db) + ".key")
    app = create_app(settings)
    grant = Grant.checked("admin", "admin", ("admin",), ("*",))
    token = app.state.services.accounts.add_token("bench", grant)
    Path(f"{db}.token").write_text(token)
    return app


def bare_app(db: Path) -> FastAPI:
    from api.routers.commands_staff import OnboardStaff

    app = FastAPI()

    @app.post("/api/staff", status_code=201)
    def onboard_staff(body: OnboardStaff) -> dict[str, Any]:
        return {
            "command_id": "bare",
            "idempotency_key": "bare",
            "repeated": False,
            "events": [{"stream_id": body.person_id, "version": 1}],
        }

    Path(f"{db}.token").write_text("none")
    return app


def main() -> None:
    kind, db, port = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    app = ledger_app(db) if kind == "ledger" else bare_app(db)
    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
