"""Cliply's HTTP service (Starlette): OAuth callbacks, the REST API for accounts and posts, signed media URLs, and
health/readiness probes. Build it with cliply.http.app.create_app(settings); `cliply serve` runs it with uvicorn."""
