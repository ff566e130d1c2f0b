"""Alembic environment for Rapport, run through Flask-Migrate (`crm db ...`).

The database URL and the metadata come from the Flask app, so `crm db upgrade`
migrates whatever CRM_DATABASE_URL (or instance/config.py) points at.
"""

import logging
import warnings
from logging.config import fileConfig

from alembic import context
from flask import current_app
from sqlalchemy.types import TypeDecorator

from crm.models.contact import include_object_for
from crm.models.search_index import include_name

config = context.config

# Keep loggers that exist already (the app's, pytest's caplog) working when
# migrations run inside a process that configured logging itself.
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

# On SQLite autogenerate cannot compare expression indexes (the pg_trgm search indexes,
# which exist on PostgreSQL only, and the contact list's lower(name) order) and would
# warn about each one on every run. PostgreSQL-only indexes are left out of comparisons
# with other databases by include_object_for.
warnings.filterwarnings(
    "ignore",
    r"autogenerate skipping metadata-specified expression-based index "
    r"'ix_\w+_(trgm|lower_name)'",
)
warnings.filterwarnings(
    "ignore",
    r"Skipped unsupported reflection of expression-based index ix_contacts_owner_lower_name",
)


def render_item(type_, obj, autogen_context):
    """Write the app's column types (UTCDateTime) as their plain SQLAlchemy type.

    A revision must not import application code, which keeps changing after it.
    """
    if type_ == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl!r}"
    return False


# Options every migration context gets, online, offline and in autogenerate.
# Batch mode is what makes ALTERs work on SQLite (it copies the table); on
# PostgreSQL batch operations are plain ALTERs, so a revision generated against
# either database runs on both. compare_type makes autogenerate see type and
# length changes (VARCHAR(60) -> VARCHAR(80)). include_name leaves out SQLite's search
# index tables, which are no models (migration 0008 owns them).
CONTEXT_OPTIONS = {
    "render_as_batch": True,
    "compare_type": True,
    "render_item": render_item,
    "include_name": include_name,
}


def get_engine():
    return current_app.extensions["migrate"].db.engine


def get_engine_url():
    return get_engine().url.render_as_string(hide_password=False).replace("%", "%%")


config.set_main_option("sqlalchemy.url", get_engine_url())
target_db = current_app.extensions["migrate"].db


def get_metadata():
    if hasattr(target_db, "metadatas"):
        return target_db.metadatas[None]
    return target_db.metadata


def context_options():
    """Flask-Migrate's configured arguments, with Rapport's options on top."""
    options = dict(current_app.extensions["migrate"].configure_args)
    options.update(CONTEXT_OPTIONS)
    return options


def run_migrations_offline():
    """Emit SQL to stdout (`crm db upgrade --sql`) without connecting."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=get_metadata(),
        literal_binds=True,
        **context_options(),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Run migrations over a connection from the app's engine."""

    # Don't write an empty revision when autogenerate finds nothing to do.
    def process_revision_directives(context, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")

    options = context_options()
    if options.get("process_revision_directives") is None:
        options["process_revision_directives"] = process_revision_directives

    with get_engine().connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        options.setdefault("include_object", include_object_for(connection.dialect.name))
        if sqlite:
            # SQLite rolls DDL back too: every migration of a run and the foreign-key check
            # after them share one transaction (Alembic's SQLite default commits each).
            options.setdefault("transactional_ddl", True)
        context.configure(connection=connection, target_metadata=get_metadata(), **options)
        if sqlite:
            _sqlite_foreign_keys_off(connection)
        try:
            with context.begin_transaction():
                context.run_migrations()
                if sqlite:
                    _check_sqlite_foreign_keys(connection)
        finally:
            if sqlite:  # never pooled for the app: a new connection enforces foreign keys
                connection.invalidate()


def _sqlite_foreign_keys_off(connection) -> None:
    """Foreign keys off while migrating on SQLite, as SQLite's documentation asks for a
    table rebuild (Alembic's batch mode): with them on, dropping the old copy of `users`
    ran every ON DELETE CASCADE that points at it, and every contact, interaction and
    reminder of every user went with it. The pragma is a no-op inside a transaction, so it
    goes to the driver's connection before Alembic begins one."""
    connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")


def _check_sqlite_foreign_keys(connection) -> None:
    """With foreign keys off, check them once the migrations have run (still inside their
    transaction, so a violation rolls everything back)."""
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"the migrations left rows whose references are broken: {broken[:5]}")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
