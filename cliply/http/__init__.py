"""Cliply's HTTP service (Starlette): OAuth callbacks, the REST API for accounts and posts, signed media URLs, and
health/readiness probes. Build it with cliply.http.app.create_app(settings); `cliply serve` runs it with uvicorn.

app.py wires the container, routes/ holds the handlers by area, schemas.py the request bodies, errors.py the
translation of use-case errors into statuses."""
