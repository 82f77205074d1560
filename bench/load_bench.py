#!/usr/bin/env python3
"""Load: concurrent reviewers and a burst of merge hooks against the real release binary.

    python3 bench/load_bench.py [--reviewers 50] [--duration 60] [--hooks 20] [--charts 2000]

Creates demo stores (`chartgate demo`), starts `chartgate serve`, then for `--duration` seconds
runs `--reviewers` concurrent reviewers, each looping over the diff list (a random filter and
page), one item's detail, and a decision on it (bound to the hashes it just read), while signed
GitHub merge hooks for the demo's second branch arrive in a burst (each a new delivery with its
own body: every one is a sync job). Prints p50/p95/p99 latency per route (client wall time, and
the server's own `Server-Timing`), request and error counts, the load average at the start, and
PASS/MISS against the target (p99 <= 100 ms, 0 errors). Standard library only.

A decision answered 409 is an error here: nothing in this run moves content under a reviewer.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scan_bench as sb  # noqa: E402  (the scan benchmark's process helpers)

SECRET = "load-bench-secret"
REVIEW_BRANCH = "feature-energy-update"
HOOK_BRANCH = "fix/population-labels"
TARGET_P99_MS = 100.0
FILTERS = ["", "kind=modified", "kind=new", "status=pending", "part=data", "q=gdp", "sort=slug", "conflict=true"]


class Client:
    """One keep-alive connection, as one reviewer's browser tab would hold."""

    def __init__(self, port: int, token: str):
        self.port, self.token, self.conn = port, token, None

    def send(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        headers = dict(headers or {})
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        if body is not None:
            headers.setdefault("Content-Type", "application/json")
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                started = time.perf_counter()
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                data = resp.read()
                wall = (time.perf_counter() - started) * 1000
                timing = resp.getheader("server-timing") or ""
                server = float(timing.split("dur=")[1]) if "dur=" in timing else None
                return resp.status, data, wall, server
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.wall: dict[str, list[float]] = {}
        self.server: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}
        self.examples: dict[str, str] = {}

    def add(self, route: str, status: int, wall: float, server: float | None, ok: set[int], body: bytes):
        with self.lock:
            self.wall.setdefault(route, []).append(wall)
            if server is not None:
                self.server.setdefault(route, []).append(server)
            if status not in ok:
                self.errors[route] = self.errors.get(route, 0) + 1
                self.examples.setdefault(route, f"HTTP {status}: {body[:200]!r}")


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs)) - 1))]


def reviewer(port: int, token: str, stop: float, stats: Stats, seed: int):
    rnd = random.Random(seed)
    c = Client(port, token)
    while time.monotonic() < stop:
        query = rnd.choice(FILTERS)
        page = rnd.randint(1, 3)
        status, body, wall, server = c.send("GET", f"/api/v1/branches/{REVIEW_BRANCH}/diffs?{query}&page={page}&per_page=50")
        stats.add("GET /branches/{b}/diffs", status, wall, server, {200}, body)
        items = json.loads(body).get("items", []) if status == 200 else []
        if not items:
            continue
        item = rnd.choice(items)
        status, body, wall, server = c.send("GET", f"/api/v1/branches/{REVIEW_BRANCH}/diffs/{item['chart_id']}")
        stats.add("GET /branches/{b}/diffs/{id}", status, wall, server, {200}, body)
        if status != 200 or item.get("error"):
            continue
        detail = json.loads(body)
        decision = "approved" if not detail["conflict"] and rnd.random() < 0.6 else rnd.choice(["rejected", "pending"])
        payload = json.dumps({
            "status": decision,
            "staging_hash": detail["staging_hash"],
            "production_hash": detail["production_hash"],
        }).encode()
        status, body, wall, server = c.send("POST", f"/api/v1/branches/{REVIEW_BRANCH}/diffs/{item['chart_id']}/review", payload)
        stats.add("POST /branches/{b}/diffs/{id}/review", status, wall, server, {200}, body)


def hooks(port: int, count: int, spread_s: float, stats: Stats):
    c = Client(port, "")
    for n in range(count):
        body = json.dumps({
            "action": "closed",
            "number": 1000 + n,
            "pull_request": {"merged": True, "number": 1000 + n, "base": {"ref": "main"},
                             "head": {"ref": HOOK_BRANCH, "repo": {"full_name": "acme/charts"}}},
            "repository": {"full_name": "acme/charts"},
            "sender": {"login": "load-bench"},
        }).encode()
        sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": f"load-{os.getpid()}-{n}", "X-Hub-Signature-256": sig}
        status, data, wall, server = c.send("POST", "/api/v1/hooks/github", body, headers)
        stats.add("POST /hooks/github", status, wall, server, {200, 202}, data)
        time.sleep(spread_s / max(1, count))  # pacing the burst, not waiting for anything


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reviewers", type=int, default=50)
    ap.add_argument("--duration", type=float, default=60)
    ap.add_argument("--hooks", type=int, default=20)
    ap.add_argument("--charts", type=int, default=2000)
    ap.add_argument("--build", action="store_true", help="rebuild the release binary first")
    ap.add_argument("--binary", type=Path, help="another chartgate binary (e.g. target/debug/chartgate for a smoke run)")
    args = ap.parse_args()

    binary = (args.binary or sb.ROOT / "target" / "release" / "chartgate").resolve()
    if args.binary is None and (args.build or not binary.exists()):
        sb.build(binary)
    work = sb.OUT / f"load-{args.charts}"
    env = sb.work_env(work)
    env["CHARTGATE_HOOK_SECRET"] = SECRET
    sb.run_demo(binary, work, env, args.charts, 120)
    tokens = []
    for i in range(5):
        email = f"reviewer{i}@example.org"
        sb.run_quick([str(binary), "users", "add", email, "--role", "reviewer"], env=env, cwd=work, name="users")
        tokens.append(sb.run_quick([str(binary), "tokens", "create", email], env=env, cwd=work, name="token").split()[-1])

    load = os.getloadavg()
    server = sb.Server(binary, env, work)
    stats = Stats()
    sb.log(f"{args.reviewers} reviewers and {args.hooks} hooks for {args.duration:.0f} s; load average {load[0]:.2f}")
    stop = time.monotonic() + args.duration
    threads = [
        threading.Thread(target=reviewer, args=(server.port, tokens[i % len(tokens)], stop, stats, i), daemon=True)
        for i in range(args.reviewers)
    ]
    threads.append(threading.Thread(target=hooks, args=(server.port, args.hooks, args.duration / 2, stats), daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rss_mb = server.vm_hwm_kb() / 1024
    stopped = server.stop()

    rows = [["route", "requests", "p50 ms", "p95 ms", "p99 ms", "server p99 ms", "errors", "verdict"]]
    total_errors, all_ok = 0, True
    for route in sorted(stats.wall):
        w, s, errors = stats.wall[route], stats.server.get(route, []), stats.errors.get(route, 0)
        ok = pct(w, 99) <= TARGET_P99_MS and errors == 0
        all_ok &= ok
        total_errors += errors
        rows.append([route, str(len(w)), f"{pct(w, 50):.1f}", f"{pct(w, 95):.1f}", f"{pct(w, 99):.1f}",
                     f"{pct(s, 99):.1f}", str(errors), "PASS" if ok else "MISS"])
    print()
    print(f"load: {args.reviewers} reviewers + {args.hooks} merge hooks, {args.duration:.0f} s, {args.charts} charts; "
          f"load average at start {load[0]:.2f} (2 cores); server peak RSS {rss_mb:.0f} MB; {stopped}")
    print(sb.markdown(rows))
    for route, example in stats.examples.items():
        print(f"  first error on {route}: {example}")
    print(f"\n{'PASS' if all_ok else 'MISS'}: p99 <= {TARGET_P99_MS:.0f} ms and 0 errors on every route "
          f"({total_errors} errors in all)")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
