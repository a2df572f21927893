"""The web pages for creators, served by `cliply serve` under /web/ (static files under /static/): thin adapters over
the same use cases as the REST API and the CLI, rendered with Jinja2 (autoescaped), without inline scripts or styles."""
