"""Configuration: defaults, then instance/config.py, then CRM_* environment variables."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask


class Defaults:
    """Settings every deployment starts from."""

    SECRET_KEY: str | None = None
    DATABASE_URL: str | None = None  # None means SQLite in the instance folder
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    SQLITE_BUSY_TIMEOUT_MS = 15000
    CONTACTS_PER_PAGE = 25
    INTERACTIONS_PER_PAGE = 25
    REMINDERS_PER_PAGE = 25  # open reminders on /reminders
    COACH_CLIENTS_PER_PAGE = 10  # client cards on /coach, each with its charts
    PHONE_DEFAULT_REGION: str | None = None  # e.g. "GB" to accept national numbers
    MAX_CONTENT_LENGTH = 16 * 1024 * 1024
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None  # tokens live as long as the session
    # Throttling of login and registration (Flask-Limiter). Use a shared storage such
    # as redis://127.0.0.1:6379/0 when several web processes serve the app.
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    LOGIN_LIMIT_PER_IP = "20 per minute; 200 per hour"
    LOGIN_LIMIT_PER_ACCOUNT = "5 per minute; 30 per hour"
    REGISTER_LIMIT_PER_IP = "10 per hour"
    # "Forgot your password?": requests per IP, and emails per address (so nobody can
    # flood someone's inbox); the emailed link works once, for this long.
    PASSWORD_RESET_LIMIT_PER_IP = "10 per hour"  # noqa: S105 - a rate, not a password
    PASSWORD_RESET_LIMIT_PER_ADDRESS = "3 per hour"  # noqa: S105
    PASSWORD_RESET_MAX_AGE_SECONDS = 3600
    # Tries at changing one's address (each says whether another account has it).
    EMAIL_CHANGE_LIMIT_PER_ACCOUNT = "5 per hour"
    # The link that confirms an address: how long it works, and how often Settings may
    # send it again.
    ADDRESS_CONFIRM_MAX_AGE_SECONDS = 7 * 24 * 3600
    ADDRESS_CONFIRM_LIMIT_PER_ACCOUNT = "3 per hour"
    # Links to confirm one address, whatever account asks: it may be someone else's.
    ADDRESS_CONFIRM_LIMIT_PER_ADDRESS = "3 per day"
    # Production behind TLS: Secure cookies and HSTS. PROXY_FIX = number of proxies
    # in front (trust their X-Forwarded-* headers).
    HTTPS = False
    PROXY_FIX = 0

    # Who may create an account at /register: "open" (anyone) or "closed" (only an operator,
    # with `crm create-user`). REGISTRATION_DOMAINS ("example.com,example.org"), when set,
    # limits the addresses of accounts made at /register, and those chosen in Settings, to
    # those domains.
    REGISTRATION = "open"
    REGISTRATION_DOMAINS: str | None = None

    # How long the API keeps the answer to a write sent with an Idempotency-Key: a retry
    # with that key within this time is answered with it instead of being run again.
    API_IDEMPOTENCY_KEY_TTL_SECONDS = 24 * 3600

    # Cached dashboard and coach figures live at most this long (recency drifts). For
    # INSIGHTS_GRACE_SECONDS more, expired figures of an unchanged network are still shown
    # while the worker recomputes them (0: the page recomputes them itself).
    INSIGHTS_CACHE_SECONDS = 900
    INSIGHTS_GRACE_SECONDS = 300

    # Links in emails point here.
    BASE_URL = "http://127.0.0.1:5000"

    # Reminder worker
    REMINDER_DELIVERY_INTERVAL_SECONDS = 30
    REMINDER_BATCH_SIZE = 200
    REMINDER_LEASE_SECONDS = 300
    REMINDER_LATE_AFTER_SECONDS = 300
    REMINDER_LINK_MAX_AGE = 30 * 24 * 3600
    WORKER_HEARTBEAT_SECONDS = 30
    WORKER_STALE_AFTER_SECONDS = 600
    DIGEST_INTERVAL_SECONDS = 60
    ACCOUNT_EMAIL_INTERVAL_SECONDS = 5  # a link to choose a new password is waited for
    KEEP_IN_TOUCH_SWEEP_SECONDS = 900
    REAP_INTERVAL_SECONDS = 60
    # Network figures changed by a write are recomputed by the worker this often, at
    # most FIGURES_REFRESH_BATCH owners a run, so page views rarely aggregate themselves.
    FIGURES_REFRESH_SECONDS = 5
    FIGURES_REFRESH_BATCH = 10

    # Email (SMTP); no SMTP_HOST means in-app reminders only.
    SMTP_HOST: str | None = None
    SMTP_PORT = 587
    SMTP_USER: str | None = None
    SMTP_PASSWORD: str | None = None
    SMTP_TLS = "starttls"  # "starttls", "ssl" or "none"
    SMTP_TIMEOUT_SECONDS = 20
    MAIL_FROM = "Rapport <reminders@rapport.local>"
    EMAIL_MAX_ATTEMPTS = 5
    EMAIL_RETRY_BASE_SECONDS = 60

    # Imports: the largest file accepted (the whole request: MAX_CONTENT_LENGTH).
    IMPORT_MAX_BYTES = 10 * 1024 * 1024


class ConfigError(ValueError):
    """A setting that cannot work; the message names it and what it takes."""


SMTP_TLS_VALUES = ("starttls", "ssl", "none", "true", "false", "yes", "no", "1", "0")
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")
# Rate limits, in Flask-Limiter's notation ("20 per minute; 200 per hour").
LIMIT_SETTINGS = ("LOGIN_LIMIT_PER_IP", "LOGIN_LIMIT_PER_ACCOUNT", "REGISTER_LIMIT_PER_IP",
                  "PASSWORD_RESET_LIMIT_PER_IP", "PASSWORD_RESET_LIMIT_PER_ADDRESS",
                  "EMAIL_CHANGE_LIMIT_PER_ACCOUNT", "ADDRESS_CONFIRM_LIMIT_PER_ACCOUNT",
                  "ADDRESS_CONFIRM_LIMIT_PER_ADDRESS")
# Text settings: an environment value that looks like JSON (CRM_SECRET_KEY=12345) is read
# as a number by Flask; these are always the text written.
TEXT_SETTINGS = ("SECRET_KEY", "BASE_URL", "MAIL_FROM", "SMTP_HOST", "SMTP_USER",
                 "SMTP_PASSWORD", "PHONE_DEFAULT_REGION", "RATELIMIT_STORAGE_URI",
                 "DATABASE_URL", "REGISTRATION", "REGISTRATION_DOMAINS")
REGISTRATION_VALUES = ("open", "closed")


# The longest duration a setting may name: times are reckoned from now with it, and a
# date past year 9999 (or an infinite or NaN number of seconds) would fail every request
# or job that does.
MAX_SECONDS = 100 * 365 * 24 * 3600


def check_config(config) -> None:
    """ConfigError for a setting of the wrong kind, before anything runs with it: every
    setting whose default is a whole number must be one (a duration in seconds may have a
    fraction, and is at most MAX_SECONDS), a true/false setting true or false (yes/no,
    on/off, 1/0 too), a rate limit one Flask-Limiter reads, the rate-limit storage one it
    knows, SMTP_TLS one of its words, and the engine options a mapping."""
    from limits import parse_many
    from limits.storage import SCHEMES

    for name in LIMIT_SETTINGS:
        value = config.get(name)
        try:
            if not isinstance(value, str) or not parse_many(value):
                raise ValueError(value)
        except ValueError:
            raise ConfigError(f"{name} (environment: CRM_{name}) must be rate limits like "
                              f"'20 per minute; 200 per hour', not {value!r}.") from None
    storage = str(config.get("RATELIMIT_STORAGE_URI") or "")
    scheme = storage.split("://", 1)[0]
    if scheme not in SCHEMES or scheme.startswith("async+") or "://" not in storage:
        raise ConfigError("RATELIMIT_STORAGE_URI (environment: CRM_RATELIMIT_STORAGE_URI) "
                          f"must be memory:// or a storage like redis://host:6379/0, not "
                          f"{storage!r}.")
    for name, default in vars(Defaults).items():
        if name.isupper() and isinstance(default, bool):
            config[name] = _true_or_false(name, config.get(name))
        if not name.isupper() or isinstance(default, bool) or not isinstance(default, int):
            continue
        value = config.get(name)
        seconds = name.endswith("_SECONDS")
        kinds = (int, float) if seconds else (int,)
        if (isinstance(value, bool) or not isinstance(value, kinds) or not value >= 0
                or (seconds and not value <= MAX_SECONDS)):
            what = (f"a number of seconds from 0 to {MAX_SECONDS:,} (100 years)" if seconds
                    else "a whole number, 0 or more")
            raise ConfigError(f"{name} (environment: CRM_{name}) must be {what}, "
                              f"not {value!r}.")
    options = config.get("SQLALCHEMY_ENGINE_OPTIONS")
    if not isinstance(options, dict) or not isinstance(options.get("connect_args", {}), dict):
        raise ConfigError("SQLALCHEMY_ENGINE_OPTIONS (environment: "
                          "CRM_SQLALCHEMY_ENGINE_OPTIONS) must be a JSON object like "
                          f'{{"pool_size": 10}}, not {options!r}.')
    if str(config.get("SMTP_TLS")).lower() not in SMTP_TLS_VALUES:
        raise ConfigError(f"SMTP_TLS (environment: CRM_SMTP_TLS) must be starttls, ssl or "
                          f"none, not {config.get('SMTP_TLS')!r}.")
    registration = config.get("REGISTRATION")
    if not isinstance(registration, str) or \
            registration.strip().lower() not in REGISTRATION_VALUES:
        raise ConfigError("REGISTRATION (environment: CRM_REGISTRATION) must be open or "
                          f"closed, not {registration!r}.")
    config["REGISTRATION"] = registration.strip().lower()
    config["REGISTRATION_DOMAINS"] = registration_domains(config.get("REGISTRATION_DOMAINS"))


def registration_domains(value) -> tuple[str, ...]:
    """The domains of REGISTRATION_DOMAINS, lower-cased (none: any domain); ConfigError
    for one that is not a domain name. Text separated by commas, or a list."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError("REGISTRATION_DOMAINS (environment: CRM_REGISTRATION_DOMAINS) must "
                          f"be domains separated by commas, not {value!r}.")
    domains = []
    for written in value:
        domain = written.strip().lower().removeprefix("@")
        if not domain:
            continue  # an empty setting (or a trailing comma) adds no domain
        labels = domain.split(".")
        if len(domain) > 253 or not all(
                0 < len(label) <= 63 and not label.startswith("-") and not label.endswith("-")
                and all(c.isalnum() or c == "-" for c in label) for label in labels):
            raise ConfigError("REGISTRATION_DOMAINS (environment: CRM_REGISTRATION_DOMAINS) "
                              "must be domains separated by commas, like "
                              f"'example.com,example.org': {written!r} is not a domain.")
        if domain not in domains:
            domains.append(domain)
    return tuple(domains)


def _true_or_false(name: str, value) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise ConfigError(f"{name} (environment: CRM_{name}) must be true or false, not {value!r}.")


def load_config(app: Flask, test_config: dict | None) -> None:
    """Layer the configuration and settle the database URL."""
    app.config.from_object(Defaults)
    if test_config is None:
        _ensure_instance_config(app)
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("CRM")
        for name in TEXT_SETTINGS:  # text, never a number Flask read as JSON; a quoted
            # value ("…", as some env files write) keeps Flask's reading, quotes removed.
            if f"CRM_{name}" in os.environ and not isinstance(app.config.get(name), str):
                app.config[name] = os.environ[f"CRM_{name}"]
    else:
        app.config.from_mapping(test_config)

    check_config(app.config)
    url = app.config.get("DATABASE_URL") or _default_sqlite_url(app)
    app.config["SQLALCHEMY_DATABASE_URI"] = _usable_database_url(normalise_database_url(url))
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = postgresql_engine_options(
            app.config["SQLALCHEMY_ENGINE_OPTIONS"])
    if not app.config.get("SECRET_KEY"):
        raise RuntimeError(
            "No SECRET_KEY: set CRM_SECRET_KEY or put SECRET_KEY in instance/config.py"
        )


# A connection PostgreSQL dropped (a restart, a failover, an idle cut by a firewall or a
# pooler) is found by a ping when it leaves the pool, not by a user's request failing on it;
# a server that stops answering fails a connection attempt, or a request's statement,
# within seconds rather than hanging the request until gunicorn kills its worker.
POSTGRESQL_CONNECT_ARGS = {
    "connect_timeout": 10,  # seconds (libpq)
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 20000,  # ms: data sent and not acknowledged (a dead peer)
}


def postgresql_engine_options(configured: dict) -> dict:
    """The engine options for PostgreSQL: pool_pre_ping and the connect arguments above,
    each overridden by SQLALCHEMY_ENGINE_OPTIONS where it names them."""
    return {
        "pool_pre_ping": True,
        **configured,
        "connect_args": {**POSTGRESQL_CONNECT_ARGS, **configured.get("connect_args", {})},
    }


def normalise_database_url(url: str) -> str:
    """Use the psycopg 3 driver for plain postgres:// URLs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _usable_database_url(url: str) -> str:
    """The URL, once SQLAlchemy can read it and has its driver: otherwise a ConfigError,
    not a traceback from deep inside the first command."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
        if parsed.get_backend_name() not in ("sqlite", "postgresql"):
            raise ConfigError(f"DATABASE_URL (environment: CRM_DATABASE_URL) must be a SQLite "
                              f"or PostgreSQL URL, not {parsed.get_backend_name()!r}.")
        parsed.get_dialect().import_dbapi()  # the driver is installed
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise ConfigError(
            "DATABASE_URL (environment: CRM_DATABASE_URL) must be sqlite:///PATH or "
            f"postgresql://USER@HOST/NAME: {exc}") from None
    return url


def _default_sqlite_url(app: Flask) -> str:
    return "sqlite:///" + str(Path(app.instance_path) / "rapport.sqlite3")


def _ensure_instance_config(app: Flask) -> None:
    """Create the instance folder, and a config with a fresh secret key, on first run."""
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    config_file = instance / "config.py"
    if config_file.exists() or os.environ.get("CRM_SECRET_KEY"):
        return
    content = (
        '"""Local settings for this Rapport instance (generated on first run)."""\n\n'
        f"SECRET_KEY = {secrets.token_urlsafe(48)!r}\n"
    )
    # O_EXCL: two processes starting at once must not overwrite each other's key.
    try:
        fd = os.open(config_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as fh:
        fh.write(content)
