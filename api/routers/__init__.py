"""One router per resource; `api.app.API_ROUTERS` lists those mounted under `/api`."""
