"""The Python load client of bench/pages.py, used when wrk is not installed.

    python bench/_load.py < request.json   ->  prints one JSON line of results

It runs in its own process and imports nothing of the app, so starting it costs the
server nothing. It forks one process per connection; each sends the same request over
one keep-alive connection (http.client) again and again until the time is up, opening a
new connection whenever the server closes one (gunicorn's sync workers close after every
response). Input: {"port", "method", "path", "headers", "body", "duration",
"connections"}. Output: {"requests", "seconds", "p50_ms", "p95_ms", "errors"}.
"""

from __future__ import annotations

import http.client
import json
import math
import multiprocessing as mp
import sys
import time


def _connection(spec: dict, start_at: float, stop_at: float, queue) -> None:
    """One connection: request after request until stop_at."""
    port, method, path = spec["port"], spec["method"], spec["path"]
    headers = spec["headers"]
    body = spec["body"].encode() if spec.get("body") else None
    latencies, errors = [], 0

    def connect():
        return http.client.HTTPConnection("127.0.0.1", port, timeout=900)

    conn = connect()
    while time.time() < start_at:
        time.sleep(0.0005)
    while time.time() < stop_at:
        started = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status >= 400:
                errors += 1
            if resp.will_close:
                conn.close()
                conn = connect()
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = connect()
            continue
        ended = time.perf_counter()
        if time.time() <= stop_at:  # like wrk, count only what completed in time
            latencies.append(ended - started)
    conn.close()
    queue.put((latencies, errors))


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return math.nan
    k = (len(sorted_values) - 1) * pct / 100
    lo, hi = math.floor(k), math.ceil(k)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def run(spec: dict) -> dict:
    ctx = mp.get_context("fork")  # this module is tiny and holds no threads or connections
    queue = ctx.Queue()
    start_at = time.time() + 0.5
    stop_at = start_at + spec["duration"]
    procs = [ctx.Process(target=_connection, args=(spec, start_at, stop_at, queue))
             for _ in range(spec["connections"])]
    for p in procs:
        p.start()
    parts = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    latencies = sorted(x for lat, _ in parts for x in lat)
    return {
        "requests": len(latencies),
        "seconds": spec["duration"],
        "p50_ms": 1000 * percentile(latencies, 50) if latencies else None,
        "p95_ms": 1000 * percentile(latencies, 95) if latencies else None,
        "errors": sum(e for _, e in parts),
    }


if __name__ == "__main__":
    print(json.dumps(run(json.load(sys.stdin))))
