"""Rapport: a relationship CRM where every medium is real life."""

from __future__ import annotations

from flask import Flask


class Rapport(Flask):
    """Flask, logging an unhandled exception under the request's reference (crm.tracing),
    which the error page shows the person who met it."""

    def log_exception(self, exc_info) -> None:
        from crm.tracing import about_request

        self.logger.error("Exception on %s", about_request(), exc_info=exc_info)


def create_app(test_config: dict | None = None) -> Flask:
    """Build the WSGI app: configuration, extensions, blueprints. Starts no scheduler."""
    app = Rapport(
        __name__,
        instance_relative_config=True,
        template_folder="../templates",
        static_folder="../static",
    )

    from crm.config import load_config

    load_config(app, test_config)

    from crm import database, errors, params, security, templating, tracing
    from crm.extensions import csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    database.configure_engine_events()
    migrate.init_app(app, db, directory=str(_project_root() / "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)

    import crm.insights.cache  # noqa: F401  (registers the network-change listener)
    from crm.auth.services import configure_login, lock_writing_user

    configure_login(login_manager)

    from crm.auth.views import bp as auth_bp
    from crm.coaching.views import bp as coaching_bp
    from crm.contacts.views import bp as contacts_bp
    from crm.interactions.views import bp as interactions_bp
    from crm.main.views import bp as main_bp
    from crm.mediums.views import bp as mediums_bp
    from crm.reminders.views import bp as reminders_bp
    from crm.tags.views import bp as tags_bp

    for bp in (
        main_bp,
        auth_bp,
        contacts_bp,
        tags_bp,
        interactions_bp,
        mediums_bp,
        reminders_bp,
        coaching_bp,
    ):
        app.register_blueprint(bp)

    # Import/export, duplicates, leaving (crm/portability) and the REST API (crm/api).
    from crm.api import register as register_api
    from crm.portability.views import bp as portability_bp

    app.register_blueprint(portability_bp)
    register_api(app)

    errors.register(app)
    app.before_request(params.reject_impossible_ids)
    app.before_request(lock_writing_user)
    templating.register(app)
    security.register(app)
    tracing.register(app)

    from crm.cli import register_commands

    register_commands(app)
    return app


def _project_root():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent
