"""Benchmark the main pages under load at heavy and light data sizes, on SQLite and PostgreSQL.

    .venv/bin/python bench/pages.py [--scale 1] [--duration 5] [--connections 4]
                                    [--databases sqlite,postgresql] [--client auto|wrk|python]

For each database (a temporary SQLite file; a fresh rapport_bench_* PostgreSQL database,
skipped with a message when the server does not answer) it loads the bench/generate.py
profiles, starts the app under gunicorn (2 sync workers, 127.0.0.1, a free port), logs in
as the heavy and the light networker and the two coaches (POST /login with the form's CSRF
token, as a browser does), and drives each page from a separate load process: wrk with a
Lua script when it is installed, otherwise a Python keep-alive client (http.client, one
process per connection). Each page runs for --duration seconds (longer, up to
--max-duration, when one request takes long). It prints requests/s, p50 and p95 per page
and user; req/s as a share of the framework floor (GET /ping, the same app, same run); the
SQL statements one request of the page runs (counted in-process against the same
database with a before_cursor_execute listener); the write floor (the cheapest
authenticated write the stack can make, a route only bench/_served.py adds) beside the
log-interaction POST; then heavy/light p50 ratios and whether the targets are met:

  flat cost        every page's p50 at heavy <= 1.5 x its p50 at light
  constant SQL     every page runs as many statements at heavy as at light
  throughput       every page at heavy serves >= 15% of the floor's req/s

The heavy networker has 5,000 contacts and 100,000 interactions, the light one 500 and
1,000; the coach page is measured for a coach of 30 heavy-ish clients (1,000 contacts,
10,000 interactions each) against a coach of 30 light clients. --scale shrinks every
count for a quick run. The benchmark lifts the API's per-token rate limit for its own
server (CRM_API_RATE_LIMIT), which would otherwise answer 429 after 300 requests.
Nothing is written to the repository.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _common  # noqa: E402
from generate import Account, Sizes, generate  # noqa: E402

FLAT_COST_LIMIT = 1.5
FLOOR_SHARE_TARGET = 0.15
WORKERS = 2


@dataclass
class Page:
    name: str
    method: str
    path: str  # may name {busy_contact_id} and {search_term}
    auth: str = "session"  # session | token | none
    accounts: tuple[str, str] = ("heavy", "light")
    expect: int = 200


PAGES = (
    Page("dashboard", "GET", "/"),
    Page("contact list", "GET", "/contacts?sort=last"),
    Page("contact search", "GET", "/contacts?q={search_term}"),
    Page("contact page", "GET", "/contacts/{busy_contact_id}"),
    # The form people open to log one: its people picker lists at most 30, whatever the
    # network (it listed all 5,000, 479 KB).
    # All one's interactions that mention a word: one in about 15% of them (checked on the
    # walk of the list), and one nothing mentions (looked up in the search index).
    Page("interaction search", "GET", "/interactions?q=conference"),
    Page("interaction search, no match", "GET", "/interactions?q=kubernetes"),
    Page("log form", "GET", "/interactions/new"),
    Page("log interaction", "POST", "/interactions/new", expect=302),
    Page("coach", "GET", "/coach", accounts=("coach", "coach_light")),
    Page("api contacts", "GET", "/api/v1/contacts", auth="token"),
)
PING = Page("ping (floor)", "GET", "/ping", auth="none", accounts=("-", "-"))
# The cheapest authenticated write (bench/_served.py): the floor for pages that write.
WRITE_FLOOR = Page("write floor", "POST", "/bench/write-floor", expect=302)


@dataclass
class Result:
    requests: int = 0
    seconds: float = 0.0
    p50_ms: float = math.nan
    p95_ms: float = math.nan
    errors: int = 0
    note: str = ""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass
class Session:
    """What a logged-in load client sends."""

    cookie: str = ""
    csrf_token: str = ""
    token: str = ""
    account: Account | None = None


@dataclass
class DatabaseRun:
    label: str
    results: dict = field(default_factory=dict)  # (page name, profile) -> Result
    queries: dict = field(default_factory=dict)  # (page name, profile) -> int
    slowest: dict = field(default_factory=dict)  # page name -> (ms, statement)
    floors: list = field(default_factory=list)
    write_floor: Result | None = None


# -- HTTP helpers --------------------------------------------------------------------------


def _request(port, method, path, *, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, resp.msg, data.decode("utf-8", "replace")
    finally:
        conn.close()


def _session_cookie(msg, current: str) -> str:
    for header in msg.get_all("Set-Cookie") or []:
        pair = header.split(";", 1)[0]
        if pair.startswith("session="):
            return pair
    return current


_CSRF_INPUT = re.compile(r"<input[^>]*name=\"csrf_token\"[^>]*>")


def scrape_csrf(html: str) -> str:
    tag = _CSRF_INPUT.search(html)
    match = re.search(r'value="([^"]*)"', tag.group(0)) if tag else None
    if not match:
        raise RuntimeError("no csrf_token in the form")
    return match.group(1)


def login(port: int, account: Account) -> Session:
    """Log in through the form (CSRF on) and keep the session cookie and a form token."""
    status, msg, html = _request(port, "GET", "/login")
    cookie = _session_cookie(msg, "")
    body = urlencode({"csrf_token": scrape_csrf(html), "email": account.email,
                      "password": account.password, "next": ""})
    status, msg, _ = _request(port, "POST", "/login", body=body, headers={
        "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
    if status != 302:
        raise RuntimeError(f"login as {account.email} answered {status}")
    cookie = _session_cookie(msg, cookie)
    status, msg, html = _request(port, "GET", "/interactions/new", headers={"Cookie": cookie})
    if status != 200:
        raise RuntimeError(f"GET /interactions/new as {account.email} answered {status}")
    return Session(cookie=_session_cookie(msg, cookie), csrf_token=scrape_csrf(html),
                   token=account.token, account=account)


def request_for(page: Page, session: Session | None, medium_id: int):
    """(method, path, headers, body) for one request of a page as one user."""
    account = session.account if session else None
    path = page.path
    if account is not None:
        path = path.format(busy_contact_id=account.busy_contact_id,
                           search_term=account.search_term)
    headers: dict[str, str] = {}
    body = None
    if page.auth == "session":
        headers["Cookie"] = session.cookie
    elif page.auth == "token":
        headers["Authorization"] = f"Bearer {session.token}"
    if page.method == "POST":
        # An hour ago in UTC is in the past in every zone the bench users have.
        when = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
        body = urlencode({
            "csrf_token": session.csrf_token, "medium": medium_id, "occurred_at": when,
            "initiated_by": "me", "participants": account.post_contact_id,
            "summary": "Benchmark call about the roadmap", "notes": "",
        })
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    return page.method, path, headers, body


# -- load clients --------------------------------------------------------------------------

WRK_SCRIPT = """
wrk.method = {method}
wrk.body = {body}
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCHJSON {{\\"requests\\": %d, \\"duration_us\\": %d, \\"p50_us\\": %d, " ..
    "\\"p95_us\\": %d, \\"status\\": %d, \\"socket\\": %d}}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def _lua(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid Lua string literal here


def wrk_load(port, method, path, headers, body, duration, connections) -> Result:
    header_lines = "\n".join(f"wrk.headers[{_lua(k)}] = {_lua(v)}" for k, v in headers.items())
    script = WRK_SCRIPT.format(method=_lua(method), body=_lua(body) if body else "nil",
                               headers=header_lines)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    try:
        out = subprocess.run(  # noqa: S603 - wrk, with arguments built here
            ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s",  # noqa: S607
             "--timeout", "120s", "-s", fh.name, f"http://127.0.0.1:{port}{path}"],
            capture_output=True, text=True, timeout=duration + 180, check=False,
        )
    finally:
        os.unlink(fh.name)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCHJSON ")), None)
    if line is None:
        return Result(note=f"wrk failed: {out.stderr.strip()[:200]}")
    data = json.loads(line[len("BENCHJSON "):])
    if not data["requests"]:
        return Result(seconds=data["duration_us"] / 1e6, note="no request completed")
    return Result(requests=data["requests"], seconds=data["duration_us"] / 1e6,
                  p50_ms=data["p50_us"] / 1000, p95_ms=data["p95_us"] / 1000,
                  errors=data["status"] + data["socket"])


def python_load(port, method, path, headers, body, duration, connections) -> Result:
    """The same load from bench/_load.py, in its own process (no app imports)."""
    spec = {"port": port, "method": method, "path": path, "headers": headers, "body": body,
            "duration": duration, "connections": connections}
    out = subprocess.run([sys.executable, str(Path(__file__).with_name("_load.py"))],  # noqa: S603
                         input=json.dumps(spec), capture_output=True, text=True,
                         timeout=duration + 960, check=False)
    if out.returncode != 0:
        return Result(note=f"load client failed: {out.stderr.strip()[-200:]}")
    data = json.loads(out.stdout)
    if not data["requests"]:
        return Result(seconds=data["seconds"], errors=data["errors"], note="no request completed")
    return Result(requests=data["requests"], seconds=data["seconds"], p50_ms=data["p50_ms"],
                  p95_ms=data["p95_ms"], errors=data["errors"])


# -- the server ----------------------------------------------------------------------------


class Server:
    """gunicorn with WORKERS sync workers serving crm:create_app() on a free port (with the
    write-floor route of bench/_served.py)."""

    def __init__(self, url: str, workdir: str):
        self.port = _common.free_port()
        self.log = Path(workdir) / f"gunicorn-{self.port}.log"
        env = {**os.environ, "CRM_DATABASE_URL": url,
               "CRM_SECRET_KEY": secrets.token_urlsafe(32),
               "CRM_API_RATE_LIMIT": "1000000 per second"}
        self.proc = subprocess.Popen(  # noqa: S603 - this interpreter's gunicorn
            [sys.executable, "-m", "gunicorn", "--workers", str(WORKERS), "--worker-class",
             # A long timeout: a page that takes minutes is measured, not killed at 30 s.
             "sync", "--timeout", "900", "--bind", f"127.0.0.1:{self.port}",
             "--log-level", "warning", "--pythonpath", str(Path(__file__).resolve().parent),
             "--error-logfile", str(self.log), "_served:app"],
            env=env, cwd=_common.ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log.read_text()[-2000:]}")
            try:
                if _request(self.port, "GET", "/ping")[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("gunicorn did not answer /ping within 60 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# -- SQL statements per page, in-process --------------------------------------------------


def count_queries(url: str, accounts: dict[str, Account]):
    """Statements one request of each page runs, per profile; the heavy page's slowest."""
    from sqlalchemy import event, select

    from crm import create_app
    from crm.extensions import db
    from crm.models import Medium

    app = create_app({"SECRET_KEY": "bench-count", "DATABASE_URL": url,
                      "API_RATE_LIMIT": "1000000 per second"})
    counts, slowest = {}, {}
    with app.app_context():
        medium_id = db.session.scalar(select(Medium.id).where(Medium.key == "phone"))
        db.session.remove()
        engine = db.engine
    engine_name = engine.dialect.name
    statements: list = []

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def after(conn, cursor, statement, parameters, context, executemany):
        started = conn.info["bench_started"].pop()
        statements.append((time.perf_counter() - started, statement))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    # Requests run outside any app context of ours: each gets its own `g`, as in production.
    try:
        clients: dict[str, tuple] = {}  # one login per account (logins are rate-limited)
        for page in PAGES:
            for profile, key in zip(("heavy", "light"), page.accounts, strict=True):
                account = accounts[key]
                if key not in clients:  # a session (and form token) per account
                    client = app.test_client()
                    html = client.get("/login").get_data(as_text=True)
                    resp = client.post("/login", data={
                        "csrf_token": scrape_csrf(html), "email": account.email,
                        "password": account.password, "next": ""})
                    if resp.status_code != 302:
                        raise RuntimeError(f"login as {account.email}: {resp.status_code}")
                    html = client.get("/interactions/new").get_data(as_text=True)
                    clients[key] = (client, Session(csrf_token=scrape_csrf(html),
                                                    token=account.token, account=account))
                client, session = clients[key]
                if page.auth != "session":  # as the load client: no cookie at all
                    client = app.test_client()
                method, path, headers, body = request_for(page, session, medium_id)
                headers.pop("Cookie", None)  # the test client keeps its own cookie jar
                for _ in range(2):  # the second, warm request is the one counted
                    statements.clear()
                    resp = client.open(path, method=method, headers=headers, data=body)
                    if resp.status_code != page.expect:
                        raise RuntimeError(f"{page.name} as {account.email}: "
                                           f"{resp.status_code} (expected {page.expect})")
                counts[(page.name, profile)] = len(statements)
                if profile == "heavy" and statements:
                    ms, sql = max(statements, key=lambda s: s[0])
                    slowest[page.name] = (1000 * ms, " ".join(sql.split()))
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
        engine.dispose()
    return counts, slowest, medium_id, engine_name


# -- one database --------------------------------------------------------------------------


def measure(port, page, session, medium_id, args, load) -> Result:
    method, path, headers, body = request_for(page, session, medium_id)
    # Warm up (templates compiled, caches filled) and check the answer is the right one.
    latencies = []
    for _ in range(3):
        started = time.perf_counter()
        status, _, text_ = _request(port, method, path, body=body, headers=headers)
        latencies.append(time.perf_counter() - started)
        if status != page.expect:
            return Result(note=f"answered {status}, expected {page.expect}: {text_[:120]!r}")
        if latencies[-1] > 1.0:  # a slow page is warm after one request
            break
    single = min(latencies)
    # A slow page gets longer, so each connection completes several requests.
    duration = min(max(args.duration, 8 * single * args.connections / WORKERS),
                   args.max_duration)
    return load(port, method, path, headers, body, duration, args.connections)


def run_database(label: str, url: str, args, sizes: Sizes, workdir: str, load) -> DatabaseRun:
    run = DatabaseRun(label)
    print(f"\n== {label}: generating data ==", flush=True)
    accounts = generate(url, sizes, seed=args.seed, log=lambda m: print(m, flush=True))
    heavy, light = accounts["heavy"], accounts["light"]
    print(f"  busy contact: heavy {heavy.busy_contact_interactions} interactions, light "
          f"{light.busy_contact_interactions}; search {heavy.search_term!r}", flush=True)
    print("  counting SQL statements per page (in-process) ...", flush=True)
    run.queries, run.slowest, medium_id, _ = count_queries(url, accounts)
    print(f"  starting gunicorn ({WORKERS} sync workers) ...", flush=True)
    server = Server(url, workdir)
    try:
        sessions = {key: login(server.port, accounts[key])
                    for key in ("heavy", "light", "coach", "coach_light")}
        run.floors.append(measure(server.port, PING, None, medium_id, args, load))
        print(f"  floor: {run.floors[-1].rps:.0f} req/s", flush=True)
        # Reads first, then the write, so logged interactions do not change what is read.
        for page in sorted(PAGES, key=lambda p: p.method != "GET"):
            # Heavy and light alternate; with --rounds > 1 each keeps its best round
            # (the most req/s), which filters out bursts of other load on the machine.
            for _ in range(args.rounds):
                for profile, key in zip(("heavy", "light"), page.accounts, strict=True):
                    result = measure(server.port, page, sessions[key], medium_id, args, load)
                    best = run.results.get((page.name, profile))
                    if best is None or result.rps > best.rps:
                        run.results[(page.name, profile)] = result
                    print(f"  {page.name:<16} {profile:<6} {result.rps:8.1f} req/s  "
                          f"p50 {result.p50_ms:8.1f} ms {result.note}", flush=True)
        # Last: it writes too, with the heavy networker's quiet contact.
        run.write_floor = measure(server.port, WRITE_FLOOR, sessions["heavy"], medium_id, args,
                                  load)
        print(f"  write floor: {run.write_floor.rps:.0f} req/s", flush=True)
        run.floors.append(measure(server.port, PING, None, medium_id, args, load))
    finally:
        server.stop()
    return run


# -- report ----------------------------------------------------------------------------------


def _fmt(value, spec=".1f"):
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else format(value, spec)


def report(run: DatabaseRun, args) -> dict[str, bool]:
    floor = statistics.mean(r.rps for r in run.floors) if run.floors else 0.0
    print(f"\n{run.label} (scale {args.scale}, {args.connections} connections, "
          f">= {args.duration:g} s per page, best of {args.rounds}, {WORKERS} gunicorn sync "
          "workers)")
    print(f"{'page':<18}{'user':<7}{'req/s':>9}{'p50 ms':>10}{'p95 ms':>10}"
          f"{'floor %':>9}{'SQL':>6}{'requests':>10}{'errors':>8}")
    for n, r in enumerate(run.floors):
        print(f"{'ping (floor)':<18}{('start', 'end')[n] if n < 2 else '':<7}{r.rps:9.1f}"
              f"{_fmt(r.p50_ms, '10.1f')}{_fmt(r.p95_ms, '10.1f')}{'':>9}{'':>6}{r.requests:10d}"
              f"{r.errors:8d}")
    for page in PAGES:
        for profile in ("heavy", "light"):
            r = run.results.get((page.name, profile), Result(note="not run"))
            share = 100 * r.rps / floor if floor else math.nan
            who = f"{profile}"
            print(f"{page.name if profile == 'heavy' else '':<18}{who:<7}{r.rps:9.1f}"
                  f"{_fmt(r.p50_ms, '10.1f'):>10}{_fmt(r.p95_ms, '10.1f'):>10}"
                  f"{_fmt(share, '8.1f'):>8}%{run.queries.get((page.name, profile), 0):6d}"
                  f"{r.requests:10d}{r.errors:8d}  {r.note}")
    print(f"floor: {floor:.1f} req/s (mean of start and end)")
    w = run.write_floor
    if w is not None:
        share = 100 * w.rps / floor if floor else math.nan
        print(f"write floor (bench/_served.py: session, CSRF, one interaction and participant, "
              f"commit; heavy): {w.rps:.1f} req/s, p50 {_fmt(w.p50_ms)} ms, "
              f"{_fmt(share)}% of the floor {w.note}")
    print(f"\n{'heavy vs light':<18}{'p50 heavy':>11}{'p50 light':>11}{'heavy/light':>13}"
          f"{'SQL heavy':>11}{'SQL light':>11}")
    flat, constant, fast = [], [], []
    for page in PAGES:
        h, li = run.results.get((page.name, "heavy")), run.results.get((page.name, "light"))
        ratio = h.p50_ms / li.p50_ms if h and li and li.p50_ms else math.nan
        qh, ql = run.queries.get((page.name, "heavy")), run.queries.get((page.name, "light"))
        print(f"{page.name:<18}{_fmt(h.p50_ms if h else None, '11.1f'):>11}"
              f"{_fmt(li.p50_ms if li else None, '11.1f'):>11}{_fmt(ratio, '12.2f'):>12}x"
              f"{qh if qh is not None else 'n/a':>11}{ql if ql is not None else 'n/a':>11}")
        if not (ratio <= FLAT_COST_LIMIT):
            flat.append(f"{page.name} {_fmt(ratio, '.2f')}x")
        if qh != ql:
            constant.append(f"{page.name} {qh} vs {ql}")
        share = h.rps / floor if h and floor else 0.0
        if share < FLOOR_SHARE_TARGET:
            fast.append(f"{page.name} {100 * share:.1f}%")
    verdicts = {
        f"flat cost (p50 heavy <= {FLAT_COST_LIMIT}x light)": flat,
        "query counts constant (heavy == light)": constant,
        f"every page >= {FLOOR_SHARE_TARGET:.0%} of the floor's req/s at heavy": fast,
    }
    print("\nTargets:")
    for name, misses in verdicts.items():
        print(f"  {'MET   ' if not misses else 'NOT MET'} {name}"
              + ("" if not misses else ": " + "; ".join(misses)))
    print("\nSlowest statement of one heavy request (in-process):")
    for page in PAGES:
        if page.name in run.slowest:
            ms, sql = run.slowest[page.name]
            print(f"  {page.name:<16}{ms:8.1f} ms  {sql[:150]}")
    return {name: not misses for name, misses in verdicts.items()}


def _stop_on_sigterm(signum, frame):
    raise KeyboardInterrupt  # run the finally blocks: stop gunicorn, drop the database


def main() -> None:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every generated count (0.05 for a quick run)")
    parser.add_argument("--duration", type=float, default=5.0,
                        help="seconds of load per page and user (default 5)")
    parser.add_argument("--max-duration", type=float, default=90.0,
                        help="upper bound for a slow page's load (default 90 s)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure each page this many times, keep the best (default 1)")
    parser.add_argument("--connections", type=int, default=4,
                        help="concurrent connections of the load client (default 4)")
    parser.add_argument("--databases", default="sqlite,postgresql",
                        help="comma-separated: sqlite, postgresql")
    parser.add_argument("--pg-admin-url", default=os.environ.get(
        "CRM_BENCH_PG_ADMIN_URL", _common.DEFAULT_PG_ADMIN_URL),
        help="a PostgreSQL URL allowed to CREATE/DROP DATABASE")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto",
                        help="load client: wrk when installed (auto), or the Python one")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--keep", action="store_true",
                        help="keep the databases afterwards (to EXPLAIN queries) and say where")
    args = parser.parse_args()

    wrk = shutil.which("wrk")
    if args.client == "wrk" and not wrk:
        raise SystemExit("--client wrk: wrk is not installed (apt-get install wrk)")
    use_wrk = wrk and args.client != "python"
    load = wrk_load if use_wrk else python_load
    client = "Python http.client, one process per connection"
    if use_wrk:
        version = subprocess.run(["wrk", "-v"], capture_output=True, text=True,  # noqa: S607
                                 check=False)
        client = (version.stdout or version.stderr).strip().splitlines()[0]
    databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    pg_problem = _common.pg_reachable(args.pg_admin_url) if "postgresql" in databases else None

    for line in _common.machine_header(
            "Rapport page benchmark",
            args.pg_admin_url if "postgresql" in databases and not pg_problem else None):
        print(line)
    print(f"load client: {client}; scale {args.scale}; seed {args.seed}")
    sizes = Sizes().scaled(args.scale)
    print(f"sizes: heavy {sizes.heavy_contacts} contacts / {sizes.heavy_interactions} "
          f"interactions / {sizes.heavy_reminders} pending reminders; light "
          f"{sizes.light_contacts} / {sizes.light_interactions}; coach {sizes.coach_clients} "
          f"clients of {sizes.client_contacts} / {sizes.client_interactions}; light coach "
          f"{sizes.light_coach_clients} clients of {sizes.light_contacts} / "
          f"{sizes.light_interactions}")

    verdicts = {}
    keep_dir = tempfile.mkdtemp(prefix="rapport_bench_") if args.keep else None
    with tempfile.TemporaryDirectory(prefix="rapport_bench_") as workdir:
        if "sqlite" in databases:
            path = Path(keep_dir or workdir) / "pages.sqlite3"
            url = f"sqlite:///{path}"
            run = run_database("SQLite", url, args, sizes, workdir, load)
            verdicts["SQLite"] = report(run, args)
            if args.keep:
                print(f"kept: {url}")
        if "postgresql" in databases:
            if pg_problem:
                print(f"\n== PostgreSQL skipped: {args.pg_admin_url} does not answer "
                      f"({pg_problem}) ==")
            else:
                url = _common.pg_create_database(args.pg_admin_url)
                try:
                    run = run_database("PostgreSQL", url, args, sizes, workdir, load)
                    verdicts["PostgreSQL"] = report(run, args)
                finally:
                    if args.keep:
                        print(f"kept: {url}")
                    else:
                        _common.pg_drop_database(args.pg_admin_url, url)
    print("\nSummary:")
    for label, result in verdicts.items():
        for name, ok in result.items():
            print(f"  {label:<11} {'MET    ' if ok else 'NOT MET'} {name}")


if __name__ == "__main__":
    main()
