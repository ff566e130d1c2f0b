"""The REST API (/api/v1) and the personal access tokens that open it."""

from __future__ import annotations

from flask import Flask, redirect, url_for


def register(app: Flask) -> None:
    """Mount the API (CSRF-exempt: it takes bearer tokens, never cookies) and the token
    settings pages (which are ordinary, CSRF-protected forms)."""
    from crm.api.settings_views import bp as tokens_bp
    from crm.api.tokens import DEFAULT_RATE_LIMIT, RateLimiter
    from crm.api.views import bp as api_bp
    from crm.extensions import csrf

    # Made here so that a malformed API_RATE_LIMIT stops the app at start.
    app.extensions["rapport_api_rate_limiter"] = RateLimiter(
        app.config.get("API_RATE_LIMIT", DEFAULT_RATE_LIMIT),
        app.config.get("RATELIMIT_STORAGE_URI") or "memory://",
    )
    csrf.exempt(api_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(tokens_bp)

    @app.get("/api", endpoint="api_index")
    def api_index():
        return redirect(url_for("api.docs"))
