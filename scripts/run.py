"""Run Rapport's long-running processes side by side until one stops or Ctrl-C.

    python scripts/run.py 'web=crm run --port 5000' 'worker=crm worker'

Each argument is NAME=COMMAND. Ctrl-C stops every process; so does any one of
them exiting, so a web server never keeps running without its worker (or the
other way round). Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import contextlib
import shlex
import signal
import subprocess
import sys
import time

GRACE_SECONDS = 5


class _Stop(Exception):
    """SIGTERM arrived: stop everything as for Ctrl-C, but tell the children."""


def _log(message: str) -> None:
    print(f"[run] {message}", file=sys.stderr, flush=True)


def parse(specs: list[str]) -> list[tuple[str, list[str]]]:
    """Split NAME=COMMAND arguments into (name, argv) pairs."""
    services = []
    for spec in specs:
        name, sep, command = spec.partition("=")
        if not sep or not name or not command.strip():
            raise SystemExit(f"run.py: expected NAME=COMMAND, got {spec!r}")
        services.append((name, shlex.split(command)))
    return services


def _raise_stop(signum, frame):
    raise _Stop


def stop(procs: dict[str, subprocess.Popen], *, already_signalled: bool) -> None:
    """Stop every child still running: terminate, then after a grace period kill."""
    # After Ctrl-C the terminal has sent SIGINT to the children already: give
    # them the grace period to shut down cleanly before a harsher signal.
    steps = ("wait", "terminate", "kill") if already_signalled else ("terminate", "kill")
    for step in steps:
        alive = {name: p for name, p in procs.items() if p.poll() is None}
        if not alive:
            return
        if step != "wait":
            if step == "kill":
                _log(f"killing {', '.join(alive)}: still running after {GRACE_SECONDS}s")
            for p in alive.values():
                getattr(p, step)()
        deadline = time.monotonic() + GRACE_SECONDS
        for p in alive.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=max(0.1, deadline - time.monotonic()))


def main(argv: list[str] | None = None) -> int:
    services = parse(sys.argv[1:] if argv is None else argv)
    if not services:
        raise SystemExit("run.py: nothing to run")
    signal.signal(signal.SIGTERM, _raise_stop)
    procs: dict[str, subprocess.Popen] = {}
    interrupted = False
    try:
        for name, command in services:
            # The commands come from the Makefile, not from user input.
            procs[name] = subprocess.Popen(command)  # noqa: S603
            _log(f"started {name} (pid {procs[name].pid}): {shlex.join(command)}")
        while True:
            for name, p in procs.items():
                code = p.poll()
                if code is not None:
                    _log(f"{name} exited with status {code}; stopping the others")
                    return code or 1
            time.sleep(0.2)
    except KeyboardInterrupt:
        interrupted = True
        _log("Ctrl-C: stopping")
        return 130
    except _Stop:
        _log("SIGTERM: stopping")
        return 143
    finally:
        # Ignore further Ctrl-C while the children shut down, so none is orphaned.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop(procs, already_signalled=interrupted)


if __name__ == "__main__":
    sys.exit(main())
