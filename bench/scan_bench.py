#!/usr/bin/env python3
"""Benchmark Chartgate's scan engine against a plain-Python reference on the same stores.

    python3 bench/scan_bench.py [--charts 20000] [--rows 350] [--keep] [--pg] [--only-scan]

Generates demo stores with `chartgate demo` (not timed), then measures, all against the real
binary: cold registration (`chartgate branch add` on an empty Chartgate database) and the size of
Chartgate's database after it, a warm full rescan (`POST /rescan?full=true`), rescans with nothing
changed (store files untouched, and touched by a write that moved no chart), diff-list requests
from 32 concurrent readers, and peak RSS of the server and of the cold-registration CLI. Runs
bench/reference.py on the same stores and compares the item sets. Then (unless --only-scan) a sync
of 1,000 approved charts on copies of the stores. Prints a table (also written to
bench/out/results.md). `--pg` puts the chart stores and Chartgate's own database on PostgreSQL.
Exit status: 0 when everything agrees, 1 on a mismatch (items, or the sync's result), 2 when a
Chartgate command fails or misses its deadline. Standard library only.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import math
import os
import platform
import re
import selectors
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
sys.path.insert(0, str(BENCH))

import pgstores  # noqa: E402
import reference  # noqa: E402

BRANCH = "feature/energy-update"
ENV_NAME = "feature-energy-update"
USER = "bench@example.org"

# Issue 24's targets (each with a 25 % margin on what was measured before it). They apply at
# 20,000 charts × 350 rows (~25 KB a chart); at 100,000 charts only cold registration, the rescan
# after a write that moved no chart and peak RSS do. `db` is 3 × the 50.5 MB Chartgate's database
# took after registering before every target's version was kept (the bases, see docs/stores.md).
TARGET_AT_CHARTS, TARGET_AT_ROWS, LARGE_AT_CHARTS = 20_000, 350, 100_000
TARGETS = {
    "sqlite": {"cold": 1.6, "warm": 0.75, "unchanged": 0.2, "touched": 0.2, "list": 40.0, "rss": 150.0,
               "db": 151.5, "sync": 5.0, "speedup": 25.0},
    "pg": {"cold": 2.5, "warm": 1.2, "unchanged": 0.3, "touched": 0.3, "list": 50.0, "rss": 150.0,
           "db": 151.5, "sync": 5.0, "speedup": 20.0},
    "large": {"cold": 10.0, "touched": 0.5, "rss": 200.0},
}
TARGET_SPEEDUP = TARGETS["sqlite"]["speedup"]

# A write transaction that moves no chart: the store's files (or PostgreSQL's tuples) change,
# `updated_at` and the content do not.
NOOP_UPDATE = "update charts set slug = slug where id = (select min(id) from charts)"

# The diff-list mix: the sequential checks and the concurrent readers use these.
LIST_QUERIES = ["per_page=50", "q=gdp", "kind=modified&page=2"]
READER_QUERIES = LIST_QUERIES + ["sort=slug&page=3", "status=pending&per_page=50", "part=data&page=2"]


class BenchError(Exception):
    pass


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- processes ------------------------------------------------------------------------------


def chartgate_env(database_url: str, production_url: str, staging_template: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARTGATE_")}
    env.update(
        CHARTGATE_DATABASE_URL=database_url,
        CHARTGATE_PRODUCTION_URL=production_url,
        CHARTGATE_STAGING_URL_TEMPLATE=staging_template,
        CHARTGATE_LISTEN="127.0.0.1:0",
        CHARTGATE_SCAN_INTERVAL="0s",
        CHARTGATE_FULL_SCAN_INTERVAL="0s",
        RUST_LOG="warn",
    )
    return env


def run_measured(argv: list[str], *, env, cwd: Path, deadline_s: float, name: str) -> dict:
    """Runs a child to completion; returns wall time, max RSS (os.wait4) and its output."""
    out_path, err_path = cwd / f"{name}.stdout", cwd / f"{name}.stderr"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        killed = []
        timer = threading.Timer(deadline_s, lambda: (killed.append(True), proc.kill()))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    stdout, stderr = out_path.read_text(errors="replace"), err_path.read_text(errors="replace")
    if killed:
        raise BenchError(f"{name}: no answer within {deadline_s:.0f} s, killed. stderr:\n{stderr[-2000:]}")
    if proc.returncode != 0:
        raise BenchError(f"{name}: exit {proc.returncode} after {wall:.2f} s:\n{stderr[-2000:]}")
    return {"wall": wall, "max_rss_kb": usage.ru_maxrss, "stdout": stdout, "stderr": stderr}


def run_quick(argv, *, env, cwd, name, timeout=120) -> str:
    try:
        p = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{name}: no answer within {timeout} s") from None
    if p.returncode != 0:
        raise BenchError(f"{name}: exit {p.returncode}:\n{p.stderr[-2000:]}")
    return p.stdout


class Server:
    def __init__(self, binary: Path, env, cwd: Path, deadline_s: float = 60, name: str = "serve"):
        self.err = open(cwd / f"{name}.stderr", "wb")
        self.proc = subprocess.Popen(
            [str(binary), "serve"], env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=self.err,
            stdin=subprocess.DEVNULL,
        )
        self.port = self._wait_for_listening(deadline_s)
        # Keep draining stdout so the server never blocks on a full pipe.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def _wait_for_listening(self, deadline_s: float) -> int:
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        end, buf = time.monotonic() + deadline_s, b""
        fd = self.proc.stdout.fileno()
        while time.monotonic() < end:
            if not sel.select(timeout=max(0.0, end - time.monotonic())):
                break
            chunk = os.read(fd, 4096)
            if not chunk:
                raise BenchError(f"server exited (code {self.proc.wait()}) before listening; see its stderr")
            buf += chunk
            m = re.search(rb"chartgate listening on http://[^\s:]+:(\d+)", buf)
            if m:
                sel.close()
                return int(m.group(1))
        self.proc.kill()
        raise BenchError(f"server did not print its listening line within {deadline_s:.0f} s")

    def vm_hwm_kb(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise BenchError("no VmHWM in /proc status")

    def stop(self, deadline_s: float = 15) -> str:
        if self.proc.poll() is not None:
            self.err.close()
            return f"already exited with {self.proc.returncode}"
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=deadline_s)
            return f"stopped on SIGTERM (exit {code})"
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return f"DID NOT STOP within {deadline_s:.0f} s of SIGTERM; killed"
        finally:
            self.err.close()


class Api:
    """One keep-alive connection to the server."""

    def __init__(self, port: int, token: str):
        self.port, self.token = port, token
        self.conn = None

    def connect(self, timeout: float = 30) -> None:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            self.conn.connect()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method: str, path: str, body=None, *, timeout: float = 30, expect=(200,), parse: bool = True):
        """(parsed body or raw bytes, wall seconds, server-timing ms or None)."""
        payload = b"" if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.token}", "Content-Length": str(len(payload))}
        if body is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            self.conn.timeout = timeout
            if self.conn.sock is not None:
                self.conn.sock.settimeout(timeout)
            try:
                started = time.perf_counter()
                self.conn.request(method, path, body=payload, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                wall = time.perf_counter() - started
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt == 2:
                    raise
        if resp.status not in expect:
            raise BenchError(f"{method} {path}: HTTP {resp.status}: {raw[:500]!r}")
        timing = resp.getheader("server-timing") or ""
        m = re.search(r"dur=([0-9.]+)", timing)
        return (json.loads(raw) if parse else raw), wall, (float(m.group(1)) if m else None)


# --- where the stores live ----------------------------------------------------------------------


def sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite://"))


def sqlite_rows(path: Path, ids: list[str]) -> dict[str, tuple]:
    """id → (slug, config, data, metadata, updated_at)."""
    out = {}
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            q = f"select id, slug, config, data, metadata, updated_at from charts where id in ({','.join('?' * len(chunk))})"
            for r in con.execute(q, chunk):
                out[r[0]] = tuple(r[1:])
    finally:
        con.close()
    return out


def sqlite_noop(path: Path) -> None:
    con = sqlite3.connect(path, timeout=30)
    try:
        con.execute(NOOP_UPDATE)
        con.commit()
    finally:
        con.close()


def sqlite_copy(src: Path, dst: Path) -> None:
    """A consistent copy (the backup API, so a WAL is included)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{dst}{suffix}").unlink(missing_ok=True)
    s, d = sqlite3.connect(f"file:{src}?mode=ro", uri=True), sqlite3.connect(dst)
    try:
        s.backup(d)
    finally:
        s.close()
        d.close()


class Stores:
    """What every kind of store shares: how Chartgate is configured for it, and how a chart's id in
    the SQLite originals reads in the store (the same id, unless a kind renumbers its charts)."""

    def env(self, database_url: str, production_url: str, staging_template: str) -> dict[str, str]:
        return chartgate_env(database_url, production_url, staging_template)

    def chart_id(self, original: str) -> str:
        return original


class SqliteStores(Stores):
    """Stores and Chartgate's database as SQLite files in the work dir."""

    label = "SQLite"

    def __init__(self, work: Path):
        self.work = work
        self.production_url = f"sqlite://{work / 'production.db'}"
        self.staging_url = f"sqlite://{work / 'staging' / (ENV_NAME + '.db')}"
        self.template = f"sqlite://{work / 'staging'}/{{branch}}.db"

    def prepare(self) -> dict:
        return {}

    def fresh_chartgate_db(self, tag: str) -> str:
        path = self.work / ("chartgate.db" if tag == "main" else f"chartgate-{tag}.db")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite://{path}"

    def chartgate_db_size(self, url: str) -> tuple[int, str]:
        path, total, parts = sqlite_path(url), 0, []
        for suffix in ("", "-wal", "-shm"):
            p = Path(f"{path}{suffix}")
            if p.exists():
                size = p.stat().st_size
                total += size
                parts.append(f"{p.name} {size / 1e6:.1f} MB")
        return total, ", ".join(parts)

    def touch(self) -> None:
        for url in (self.staging_url, self.production_url):
            sqlite_noop(sqlite_path(url))

    def sync_copies(self, scratch: Path) -> tuple[str, str, str]:
        (scratch / "staging").mkdir(parents=True, exist_ok=True)
        prod, stg = scratch / "production.db", scratch / "staging" / f"{ENV_NAME}.db"
        sqlite_copy(sqlite_path(self.production_url), prod)
        sqlite_copy(sqlite_path(self.staging_url), stg)
        return f"sqlite://{prod}", f"sqlite://{stg}", f"sqlite://{scratch / 'staging'}/{{branch}}.db"

    def rows(self, url: str, ids: list[str]) -> dict[str, tuple]:
        return sqlite_rows(sqlite_path(url), ids)

    def edit(self, url: str, edits: list[tuple[str, str, str]], scratch: Path) -> None:
        con = sqlite3.connect(sqlite_path(url), timeout=30)
        try:
            con.executemany("update charts set config = ?, updated_at = ? where id = ?",
                            [(cfg, at, cid) for cid, cfg, at in edits])
            con.commit()
        finally:
            con.close()

    def cleanup(self, keep: bool) -> None:
        pass  # the work dir goes (or stays) as a whole


class PgStores(Stores):
    """Production and staging copied into PostgreSQL; Chartgate's own database there too."""

    label = "PostgreSQL"

    def __init__(self, work: Path, pg: pgstores.Pg, charts: int, rows: int):
        self.work, self.pg, self.charts, self.rows_per_chart = work, pg, charts, rows
        sfx = f"{charts}" if rows == TARGET_AT_ROWS else f"{charts}_{rows}"
        self.db = {
            "production": f"bench_prod_{sfx}", "staging": f"bench_stg_{sfx}",
            "main": f"bench_cg_{sfx}", "sync": f"bench_sync_cg_{sfx}",
            "sync_production": f"bench_sync_prod_{sfx}", "sync_staging": f"bench_sync_stg_{sfx}",
        }
        self.production_url = pg.url(self.db["production"])
        self.staging_url = pg.url(self.db["staging"])
        self.template = pg.url(f"bench_stg_{sfx}_{{branch}}")
        self.marker = work / "pg-stores.json"

    def _ready(self) -> bool:
        try:
            m = json.loads(self.marker.read_text())
        except (OSError, ValueError):
            return False
        if m != {"charts": self.charts, "rows": self.rows_per_chart, "production": self.db["production"],
                 "staging": self.db["staging"], "counts": m.get("counts")}:
            return False
        try:
            return all(self.pg.exists(self.db[s]) and self.pg.count(self.db[s]) == m["counts"][s]
                       for s in ("production", "staging"))
        except pgstores.PgError:
            return False

    def prepare(self) -> dict:
        if self._ready():
            log(f"reusing PostgreSQL stores {self.db['production']}, {self.db['staging']} (copy skipped)")
            return {"pg_copy_s": None}
        self.marker.unlink(missing_ok=True)
        started = time.perf_counter()
        counts = {}
        for side, path in (("production", self.work / "production.db"),
                           ("staging", self.work / "staging" / f"{ENV_NAME}.db")):
            log(f"copying {path.name} into PostgreSQL database {self.db[side]} (not timed)")
            counts[side] = self.pg.copy_store(path, self.db[side])
        took = time.perf_counter() - started
        self.marker.write_text(json.dumps({"charts": self.charts, "rows": self.rows_per_chart,
                                           "production": self.db["production"], "staging": self.db["staging"],
                                           "counts": counts}))
        log(f"copied {counts} rows in {took:.1f} s")
        return {"pg_copy_s": took}

    def fresh_chartgate_db(self, tag: str) -> str:
        self.pg.create(self.db[tag])
        return self.pg.url(self.db[tag])

    def chartgate_db_size(self, url: str) -> tuple[int, str]:
        db = url.rsplit("/", 1)[1]
        size = self.pg.database_size(db)
        return size, f"pg_database_size('{db}')"

    def touch(self) -> None:
        for side in ("staging", "production"):
            self.pg.run(self.db[side], NOOP_UPDATE)

    def sync_copies(self, scratch: Path) -> tuple[str, str, str]:
        scratch.mkdir(parents=True, exist_ok=True)
        self.pg.create(self.db["sync_production"], template=self.db["production"])
        self.pg.create(self.db["sync_staging"], template=self.db["staging"])
        return (self.pg.url(self.db["sync_production"]), self.pg.url(self.db["sync_staging"]),
                self.pg.url(self.db["sync_staging"] + "_{branch}"))

    def rows(self, url: str, ids: list[str]) -> dict[str, tuple]:
        return self.pg.rows(url.rsplit("/", 1)[1], ids)

    def edit(self, url: str, edits: list[tuple[str, str, str]], scratch: Path) -> None:
        self.pg.update_rows(url.rsplit("/", 1)[1], edits, scratch)

    def cleanup(self, keep: bool) -> None:
        if keep:
            log(f"kept PostgreSQL databases {', '.join(self.db.values())}")
            return
        for db in self.db.values():
            try:
                self.pg.drop(db)
            except pgstores.PgError as e:
                log(f"could not drop {db}: {e}")
        log(f"dropped PostgreSQL databases {', '.join(self.db.values())}")


# --- steps ------------------------------------------------------------------------------------


def build(binary: Path) -> None:
    log("building: cargo build --release --bin chartgate")
    p = subprocess.run(["cargo", "build", "--release", "--bin", "chartgate"], cwd=ROOT)
    if p.returncode != 0 or not binary.exists():
        raise BenchError("cargo build failed")


def stores_ready(work: Path, charts: int, rows: int) -> bool:
    marker = work / "stores.json"
    try:
        m = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return (
        m.get("charts") == charts and m.get("rows") == rows
        and (work / "production.db").exists() and (work / "staging" / f"{ENV_NAME}.db").exists()
    )


def generate(binary: Path, work: Path, charts: int, rows: int) -> float:
    if work.exists():
        shutil.rmtree(work)
    (work / "staging").mkdir(parents=True)
    s = SqliteStores(work)
    env = chartgate_env(f"sqlite://{work / 'chartgate.db'}", s.production_url, s.template)
    log(f"generating stores: chartgate demo --charts {charts} --rows {rows} (not timed)")
    r = run_measured([str(binary), "demo", "--charts", str(charts), "--rows", str(rows)],
                     env=env, cwd=work, deadline_s=4 * 3600, name="demo")
    s.fresh_chartgate_db("main")  # the demo's registrations are not the benchmark's
    (work / "stores.json").write_text(json.dumps({"charts": charts, "rows": rows}))
    log(f"generated in {r['wall']:.1f} s: {r['stdout'].strip()[:300]}")
    return r["wall"]


def work_env(work: Path) -> dict[str, str]:
    """The environment of a Chartgate whose database and stores are SQLite files in `work` (the
    other benchmarks: load_bench, signin_timing, upgrade_bench)."""
    s = SqliteStores(work)
    return chartgate_env(f"sqlite://{work / 'chartgate.db'}", s.production_url, s.template)


def post_sign_in(conn: http.client.HTTPConnection, port: int, email: str, password: str) -> int:
    """Posts the sign-in form as a browser on this server's page would; returns the status."""
    body = urllib.parse.urlencode({"email": email, "password": password, "next": "/"})
    conn.request("POST", "/auth/login", body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "Origin": f"http://127.0.0.1:{port}",
        "Host": f"127.0.0.1:{port}",
    })
    resp = conn.getresponse()
    resp.read()
    return resp.status


def small_demo(binary_arg: Path | None, name: str) -> tuple[Path, Path, dict[str, str]]:
    """The release binary (built when missing) and a 60-chart demo in bench/out/NAME: the start
    of the smaller benchmarks (signin_timing, signin_burst). Returns (binary, work, env)."""
    binary = (binary_arg or ROOT / "target" / "release" / "chartgate").resolve()
    if not binary.exists():
        build(binary)
    work = OUT / name
    env = work_env(work)
    run_demo(binary, work, env, 60, 20)
    return binary, work, env


def run_demo(binary: Path, work: Path, env: dict[str, str], charts: int, rows: int) -> float:
    """`chartgate demo` in an emptied `work`, its branches left registered in env's database."""
    if work.exists():
        shutil.rmtree(work)
    (work / "staging").mkdir(parents=True)
    log(f"generating stores: chartgate demo --charts {charts} --rows {rows} (not timed)")
    r = run_measured([str(binary), "demo", "--charts", str(charts), "--rows", str(rows)],
                     env=env, cwd=work, deadline_s=4 * 3600, name="demo")
    log(f"generated in {r['wall']:.1f} s")
    return r["wall"]


def busy_neighbours() -> list[str]:
    """Compilers running beside the benchmark (their CPU use skews its timings)."""
    seen = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            comm = (d / "comm").read_text().strip()
        except OSError:
            continue
        if comm in ("rustc", "cargo", "cc", "ld", "lld"):
            seen.append(f"{comm}[{d.name}]")
    return sorted(seen)


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def percentile(xs, p: float) -> float:
    """Nearest-rank percentile."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))]


def fetch_all_items(api: Api) -> list[dict]:
    items, page = [], 1
    while True:
        body, _, _ = api.request("GET", f"/api/v1/branches/{ENV_NAME}/diffs?per_page=500&page={page}")
        items.extend(body["items"])
        if not body["items"] or len(items) >= body["total"]:
            return items
        page += 1


def run_reference(work: Path) -> dict:
    log("running the Python reference (bench/reference.py) on the same stores")
    r = run_measured(
        [sys.executable, str(BENCH / "reference.py"), str(work / "production.db"),
         str(work / "staging" / f"{ENV_NAME}.db"), "--json"],
        env=dict(os.environ), cwd=work, deadline_s=4 * 3600, name="reference",
    )
    result = json.loads(r["stdout"])
    result["wall"] = r["wall"]
    result["child_max_rss_kb"] = r["max_rss_kb"]
    log(f"reference: {result['items']} items in {r['wall']:.1f} s, max RSS {r['max_rss_kb'] / 1024:.0f} MB")
    return result


def concurrent_readers(port: int, token: str, threads: int, per_thread: int) -> dict:
    """`threads` readers, each on its own keep-alive connection, `per_thread` list requests each
    (the READER_QUERIES mix, each thread starting at another query), all released at once."""
    base = f"/api/v1/branches/{ENV_NAME}/diffs"
    barrier = threading.Barrier(threads + 1)
    samples: list[list[tuple[str, float, float]]] = [[] for _ in range(threads)]
    errors: list[str] = []

    def reader(i: int) -> None:
        api = Api(port, token)
        try:
            api.connect()
        except OSError as e:
            errors.append(f"reader {i}: connect: {e}")
        try:
            barrier.wait(timeout=60)
        except threading.BrokenBarrierError:
            return
        try:
            for k in range(per_thread):
                q = READER_QUERIES[(i + k) % len(READER_QUERIES)]
                _, wall, dur = api.request("GET", f"{base}?{q}", timeout=120, parse=False)
                if dur is None:
                    raise BenchError("no server-timing header on the diff list")
                samples[i].append((q, dur, wall * 1000))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"reader {i}: {type(e).__name__}: {e}")
        finally:
            api.close()

    workers = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(threads)]
    for w in workers:
        w.start()
    barrier.wait(timeout=60)
    started = time.perf_counter()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    flat = [s for per in samples for s in per]
    if errors:
        raise BenchError(f"{len(errors)} of {threads} readers failed, e.g. {errors[:3]}")
    server, client = [s[1] for s in flat], [s[2] for s in flat]
    by_query = {}
    for q in READER_QUERIES:
        sv = [s[1] for s in flat if s[0] == q]
        by_query[q] = {"n": len(sv), "p50": percentile(sv, 50), "p99": percentile(sv, 99), "max": max(sv)}
    return {
        "threads": threads, "per_thread": per_thread, "n": len(flat), "elapsed_s": elapsed,
        "rps": len(flat) / elapsed if elapsed else float("nan"),
        "server_p50": percentile(server, 50), "server_p99": percentile(server, 99), "server_max": max(server),
        "client_p50": percentile(client, 50), "client_p99": percentile(client, 99), "client_max": max(client),
        "by_query": by_query,
    }


def parse_ts(s: str | None):
    if not s:
        return None
    try:
        return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None


def sync_phase(binary: Path, work: Path, stores, ref: dict, cg_items: list[dict], n_sync: int) -> dict:
    """Copies production and staging, changes `n_sync` charts that are not items in the staging
    copy, registers that copy on a fresh Chartgate database, approves the changed charts in bulk,
    then times `POST /sync` → job finished and checks what it wrote."""
    scratch = work / "sync"
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    s: dict = {"requested": n_sync}

    # Charts that are in both stores and are items of neither Chartgate nor the reference.
    taken = set(ref["item_list"]) | {it["chart_id"] for it in cg_items}
    prod_ids = {r[0] for r in _ids(work / "production.db")}
    candidates = sorted(i for i, in _ids(work / "staging" / f"{ENV_NAME}.db") if i in prod_ids and i not in taken)
    if len(candidates) < n_sync:
        if len(candidates) < 10:
            raise BenchError(f"sync: only {len(candidates)} charts are not items; {n_sync} needed (use more --charts)")
        log(f"sync: only {len(candidates)} charts are not items: syncing those instead of {n_sync}")
        n_sync = s["requested"] = len(candidates)
    step = len(candidates) / n_sync
    ids = [candidates[int(k * step)] for k in range(n_sync)]

    log(f"sync: copying production and staging ({stores.label}) to scratch stores")
    started = time.perf_counter()
    prod_url, stg_url, template = stores.sync_copies(scratch)
    s["copy_s"] = time.perf_counter() - started

    # The edit: the config's title gains a suffix, updated_at moves. Computed from the SQLite
    # originals (PostgreSQL's copy holds the same text).
    originals = sqlite_rows(work / "staging" / f"{ENV_NAME}.db", ids)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    edits = []
    for cid in ids:
        config = json.loads(originals[cid][1])
        config["title"] = f"{config.get('title', '')} (sync bench)"
        edits.append((cid, json.dumps(config, ensure_ascii=False), stamp))
    stores.edit(stg_url, edits, scratch)
    log(f"sync: changed the title of {len(edits)} charts in the staging copy; copies took {s['copy_s']:.1f} s")

    db_url = stores.fresh_chartgate_db("sync")
    env = stores.env(db_url, prod_url, template)
    r = run_measured([str(binary), "branch", "add", BRANCH, "--store", stg_url],
                     env=env, cwd=scratch, deadline_s=3600, name="branch-add")
    s["register_s"] = r["wall"]
    run_quick([str(binary), "users", "add", USER, "--role", "lead"], env=env, cwd=scratch, name="users add")
    token = run_quick([str(binary), "tokens", "create", USER], env=env, cwd=scratch,
                      name="tokens create").strip().splitlines()[-1].strip()

    server = Server(binary, env, scratch, name="serve-sync")
    try:
        api = Api(server.port, token)
        items = {it["chart_id"]: it for it in fetch_all_items(api)}
        store_ids = [stores.chart_id(c) for c in ids]
        missing = [c for c in store_ids if c not in items]
        if missing:
            raise BenchError(f"sync: {len(missing)} changed charts are not items, e.g. {missing[:3]}")
        s["branch_items"] = len(items)

        decided, refused = 0, []
        started = time.perf_counter()
        for i in range(0, len(ids), 500):
            body, _, _ = api.request("POST", f"/api/v1/branches/{ENV_NAME}/reviews/bulk", timeout=600,
                                     body={"status": "approved", "chart_ids": store_ids[i:i + 500],
                                           "comment": "sync bench"})
            decided += len(body["decided"])
            refused += body["refused"]
        s["approve_s"] = time.perf_counter() - started
        if decided != len(ids) or refused:
            raise BenchError(f"sync: bulk approval decided {decided} of {len(ids)}, refused {refused[:3]}")
        log(f"sync: approved {decided} items in {s['approve_s']:.2f} s (branch has {len(items)} items)")

        started = time.perf_counter()
        body, _, _ = api.request("POST", "/api/v1/sync", body={"branch": BRANCH, "dry_run": False},
                                 expect=(202,), timeout=600)
        job_id = body["job_id"]
        s["enqueue_s"] = time.perf_counter() - started
        polls, job = 0, None
        deadline = started + 1800
        while time.perf_counter() < deadline:
            # The job list (no items) is cheap to poll; the job with its items is read once at the end.
            jobs, _, _ = api.request("GET", f"/api/v1/sync/jobs?branch={ENV_NAME}", timeout=60)
            polls += 1
            job = next((j for j in jobs if j["id"] == job_id), None)
            if job and job["status"] in ("succeeded", "partial", "failed"):
                break
            time.sleep(0.02)
        s["wall_s"] = time.perf_counter() - started
        s["polls"] = polls
        if not job or job["status"] not in ("succeeded", "partial", "failed"):
            raise BenchError(f"sync: job {job_id} not finished within 1800 s: {job}")
        full, _, _ = api.request("GET", f"/api/v1/sync/jobs/{job_id}", timeout=120)
        created, started_at, finished = (parse_ts(full.get(k)) for k in ("created_at", "started_at", "finished_at"))
        s["server_s"] = (finished - created).total_seconds() if created and finished else None
        s["run_s"] = (finished - started_at).total_seconds() if started_at and finished else None
        outcomes: dict[str, int] = {}
        reasons: dict[str, int] = {}
        for it in full["items"]:
            outcomes[str(it["outcome"])] = outcomes.get(str(it["outcome"]), 0) + 1
            if it.get("reason"):
                reasons[it["reason"]] = reasons.get(it["reason"], 0) + 1
        idset = set(store_ids)
        ours = {it["chart_id"]: it for it in full["items"] if it["chart_id"] in idset}
        s.update(job_id=job_id, status=full["status"], total=full["total"], done=full["done"], error=full["error"],
                 outcomes=outcomes, reasons=reasons,
                 written=sum(1 for it in full["items"] if it["outcome"] in ("created", "updated", "deleted")),
                 ours_updated=sum(1 for it in ours.values() if it["outcome"] == "updated"))
        s["server_rss_kb"] = server.vm_hwm_kb()
    finally:
        stop = server.stop()
    s["stop"] = stop
    log(f"sync: job {s['job_id']} {s['status']} in {s['wall_s']:.2f} s (enqueue {s['enqueue_s'] * 1000:.0f} ms, "
        f"server {s['server_s']}), outcomes {s['outcomes']}; server {stop}")

    # Production's copy must now hold the staging copy's content for every approved chart.
    prod_rows, stg_rows = stores.rows(prod_url, ids), stores.rows(stg_url, ids)
    same_content = same_bytes = 0
    differ: list[str] = []
    for cid in ids:
        p, st = prod_rows.get(cid), stg_rows.get(cid)
        if p and st and reference.version_hash(*p[:4]) == reference.version_hash(*st[:4]):
            same_content += 1
            same_bytes += p[:4] == st[:4]
        elif len(differ) < 3:
            differ.append(cid)
    s.update(same_content=same_content, same_bytes=same_bytes, differ=differ)
    s["ok"] = (s["ours_updated"] == len(ids) and s["written"] == len(ids) and same_content == len(ids)
               and s["status"] != "failed")
    log(f"sync: production copy holds the staging content for {same_content}/{len(ids)} charts "
        f"({same_bytes} byte-identical)")
    return s


def _ids(path: Path) -> list[tuple[str]]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return con.execute("select id from charts").fetchall()
    finally:
        con.close()


# --- report -------------------------------------------------------------------------------------


def fmt_s(s):
    if s is None or (isinstance(s, float) and math.isnan(s)):
        return "—"
    return f"{s:.3f} s" if s < 1 else f"{s:.2f} s" if s < 10 else f"{s:.1f} s"


def fmt_mb(kb):
    return f"{kb / 1024:.0f} MB"


class Verdicts:
    """Which targets apply to a run of this size and engine, and what they are."""

    def __init__(self, charts: int, rows: int, pg: bool = False):
        self.charts, self.rows = charts, rows
        self.full = charts >= TARGET_AT_CHARTS and rows >= TARGET_AT_ROWS
        self.large = self.full and charts >= LARGE_AT_CHARTS
        self.targets = TARGETS["pg" if pg else "sqlite"]
        if self.large:
            self.targets = {**self.targets, **TARGETS["large"]}

    def applies(self, what: str) -> bool:
        if not self.full:
            return False
        if self.large:
            return what in TARGETS["large"]
        return True

    def target(self, what: str) -> float:
        return self.targets[what]

    def result(self, what: str, value: float | None) -> str:
        """PASS when `value` is within `what`'s target (at most it; the speed-up at least it)."""
        if value is None:
            return "—"
        if not self.applies(what):
            return "n/a" if self.full else f"n/a ({self.charts:,} charts)"
        ok = value >= self.target(what) if what == "speedup" else value <= self.target(what)
        return "PASS" if ok else "MISS"

    def speedup(self, ref_s: float, ours_s: float | None) -> str:
        if ours_s is None:
            return "—"
        # duration_ms is whole milliseconds: 0 means under 1 ms.
        x = ref_s / max(ours_s, 0.001)
        text = ("> " if ours_s < 0.001 else "") + (f"{x:.1f}×" if x < 1000 else f"{x:.0f}×")
        if not self.applies("speedup"):
            return text
        return f"{text} {self.result('speedup', x)}"


def table(m: dict, ref: dict, v: Verdicts, agree: bool) -> list[list[str]]:
    rows = [["figure", "chartgate", "python reference", f"speed-up (≥ {v.target('speedup'):g}×)", "target", "result"]]
    ref_s = ref["wall"]
    cold = m["cold_wall"]
    rows.append([
        f"cold registration (`branch add`, empty Chartgate database; CLI wall, median of "
        f"{len(m['cold_walls'])}: {', '.join(fmt_s(w) for w in m['cold_walls'])})", fmt_s(cold), fmt_s(ref_s),
        v.speedup(ref_s, cold), f"≤ {v.target('cold'):g} s", v.result("cold", cold),
    ])
    warm = m["warm_ms"] / 1000
    rows.append([
        "warm full rescan (`rescan?full=true`, duration_ms)", f"{fmt_s(warm)} (wall {fmt_s(m['warm_wall'])})",
        fmt_s(ref_s), v.speedup(ref_s, warm), f"≤ {v.target('warm'):g} s", v.result("warm", warm),
    ])
    for key, label in (("unchanged", "rescan, nothing changed, store files untouched ("),
                       ("touched", "rescan, nothing changed, store files touched (a no-op write on both stores; ")):
        d = m[key]
        un = d["median_ms"] / 1000
        rows.append([
            f"{label}median of {len(d['all_ms'])}, duration_ms)", f"{fmt_s(un)} (wall {fmt_s(d['wall_median'])})",
            fmt_s(ref_s), v.speedup(ref_s, un), f"≤ {v.target(key):g} s", v.result(key, un),
        ])
    db_mb = m["db_bytes"] / 1e6
    rows.append([
        f"Chartgate's own database after `branch add` ({m['db_what']})", f"{db_mb:.1f} MB", "—", "—",
        f"≤ {v.target('db'):g} MB", v.result("db", db_mb),
    ])
    c = m.get("readers")
    if c:
        rows.append([
            f"diff list, {c['threads']} concurrent readers × {c['per_thread']} requests: p99 server time "
            f"(`server-timing`)",
            f"p99 {c['server_p99']:.1f} ms (p50 {c['server_p50']:.1f} ms; client p99 {c['client_p99']:.1f} ms)",
            "—", "—", f"≤ {v.target('list'):g} ms", v.result("list", c["server_p99"]),
        ])
    else:
        rows.append(["diff list, concurrent readers", m.get("readers_skipped", "skipped"), "—", "—",
                     f"≤ {v.target('list'):g} ms", "—"])
    sy = m.get("sync")
    if sy and "wall_s" in sy:
        server = f"; server {fmt_s(sy['server_s'])}" if sy.get("server_s") is not None else ""
        rows.append([
            f"sync of {sy['requested']:,} approved charts (`POST /sync` → job finished)",
            f"{fmt_s(sy['wall_s'])} ({sy['written']} written{server})", "—", "—", f"≤ {v.target('sync'):g} s",
            v.result("sync", sy["wall_s"]),
        ])
    else:
        rows.append(["sync of approved charts", m.get("sync_skipped", "skipped"), "—", "—",
                     f"≤ {v.target('sync'):g} s", "—"])
    srv = m["server_rss_kb"]
    sync_rss = (sy or {}).get("server_rss_kb")
    worst = max(srv, sync_rss or 0)
    rows.append([
        "peak RSS, server (VmHWM after all of the above; the sync server apart)",
        fmt_mb(srv) + (f" (sync server {fmt_mb(sync_rss)})" if sync_rss else ""), "—", "—",
        f"≤ {v.target('rss'):g} MB", v.result("rss", worst / 1024),
    ])
    cli = m["cold_rss_kb"]
    rows.append([
        "peak RSS, cold-registration CLI (wait4 ru_maxrss)", fmt_mb(cli), fmt_mb(ref["child_max_rss_kb"]), "—",
        f"≤ {v.target('rss'):g} MB", v.result("rss", cli / 1024),
    ])
    rows.append(["items found (correctness: item set and kinds)", str(m["items"]), str(ref["items"]), "—",
                 "= reference", "PASS" if agree else "MISMATCH"])
    if sy and "ok" in sy:
        rows.append([
            "sync result (correctness)",
            f"{sy['ours_updated']}/{sy['requested']} updated, production = staging for {sy['same_content']}",
            "—", "—", f"{sy['requested']} written, copies equal", "PASS" if sy["ok"] else "MISMATCH",
        ])
    return rows


# The phases of a cold registration, from the scan's debug log (`chartgate::scans`): which
# log line and field each is, in the order they run.
PHASES = [
    ("production store: list stamps", "production", "list_ms"),
    ("production store: read, fingerprint, canonicalise (states and texts written meanwhile)", "production",
     "read_ms"),
    ("production store: write the states and texts left when reading ends", "production", "write_ms"),
    ("staging store: list stamps", "staging", "list_ms"),
    ("staging store: read, fingerprint, canonicalise what is new (states written meanwhile)", "staging",
     "read_ms"),
    ("staging store: write the states left when reading ends", "staging", "write_ms"),
    ("items: choose the charts to classify", "items", "relevant_ms"),
    ("items: load their states, hash what the items need", "items", "hydrate_ms"),
    ("items: classify, keep the items' texts", "items", "keep_ms"),
    ("items: write the items", "items", "replace_ms"),
]
PHASE_ENV = "warn,chartgate::scans=debug"


def phases_of(stderr: str) -> dict[str, float]:
    """Seconds per phase of one cold registration (see PHASES); the sides' largest refresh (the
    registration refreshes the target once more, finding nothing)."""
    found: dict[str, dict[str, int]] = {}
    for line in stderr.splitlines():
        fields = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line))
        if "side refreshed" in line:
            key = fields.get("side", "").strip('"')
        elif "items rebuilt" in line:
            key = "items"
        else:
            continue
        numbers = {k: int(v) for k, v in fields.items() if k.endswith("_ms") and v.isdigit()}
        if numbers.get("total_ms", 0) >= found.get(key, {}).get("total_ms", 0):
            found[key] = numbers
    return {label: found.get(key, {}).get(field, 0) / 1000 for label, key, field in PHASES}


def phase_table(m: dict) -> str:
    """The cold registration's time by phase, median of the runs, and what the phases leave out."""
    runs = m["cold_phases"]
    rows = [["phase of a cold registration", "median", "runs"]]
    for label, _, _ in PHASES:
        xs = [r[label] for r in runs]
        rows.append([label, fmt_s(median(xs)), ", ".join(fmt_s(x) for x in xs)])
    rest = [w - sum(r.values()) for w, r in zip(m["cold_walls"], runs)]
    rows.append(["the rest: process start, migrations, the baseline copy, rules, audit (wall − the above)",
                 fmt_s(median(rest)), ", ".join(fmt_s(x) for x in rest)])
    rows.append(["cold registration, CLI wall", fmt_s(m["cold_wall"]), ", ".join(fmt_s(w) for w in m["cold_walls"])])
    return markdown(rows)


def markdown(rows: list[list[str]]) -> str:
    def esc(c):
        return c.replace("|", "\\|")
    out = ["| " + " | ".join(esc(c) for c in rows[0]) + " |", "| " + " | ".join("---" for _ in rows[0]) + " |"]
    out += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows[1:]]
    return "\n".join(out)


# --- main ---------------------------------------------------------------------------------------


def rescans(api: Api, base: str, n: int, before=None) -> dict:
    all_ms, walls, reports = [], [], []
    for _ in range(n):
        if before:
            before()
        body, wall, _ = api.request("POST", f"{base}/rescan", timeout=600)
        all_ms.append(body["duration_ms"])
        walls.append(wall)
        reports.append(body)
    return {"median_ms": median(all_ms), "all_ms": all_ms, "wall_median": median(walls), "last": reports[-1],
            "items": {r["items"] for r in reports}, "reports": reports}


def main() -> int:
    ap = argparse.ArgumentParser(description="Chartgate scan benchmark")
    ap.add_argument("--charts", type=int, default=20_000)
    ap.add_argument("--rows", type=int, default=350)
    ap.add_argument("--keep", action="store_true",
                    help="keep the work dir (stores) and PostgreSQL databases; a later run with the same sizes "
                         "reuses the stores")
    ap.add_argument("--pg", action="store_true",
                    help="chart stores and Chartgate's own database on PostgreSQL (copied from the SQLite stores)")
    ap.add_argument("--pg-host", default="127.0.0.1")
    ap.add_argument("--pg-port", type=int, default=5432)
    ap.add_argument("--pg-user", default="postgres")
    ap.add_argument("--pg-admin-db", default="test", help="database psql connects to for create/drop database")
    ap.add_argument("--only-scan", action="store_true", help="skip the concurrent readers and the sync phase")
    ap.add_argument("--no-prepare", action="store_true",
                    help="leave the stores without the optional index of design §3 (`chartgate store prepare`)")
    ap.add_argument("--requests", type=int, default=30, help="sequential requests per diff-list variant")
    ap.add_argument("--readers", type=int, default=32, help="concurrent diff-list readers")
    ap.add_argument("--reader-requests", type=int, default=40, help="requests per concurrent reader")
    ap.add_argument("--rescans", type=int, default=5, help="rescans per 'nothing changed' figure")
    ap.add_argument("--cold-runs", type=int, default=3,
                    help="cold registrations, each on a new Chartgate database (the median is the figure)")
    ap.add_argument("--sync-charts", type=int, default=1000, help="approved charts the sync writes")
    ap.add_argument("--binary", type=Path, default=ROOT / "target" / "release" / "chartgate")
    ap.add_argument("--build", action="store_true", help="run cargo build --release first (default: only if missing)")
    args = ap.parse_args()

    binary = args.binary.resolve()
    if args.build or not binary.exists():
        build(binary)
    work = OUT / f"run-{args.charts}" if args.rows == TARGET_AT_ROWS else OUT / f"run-{args.charts}-{args.rows}"
    notes: list[str] = []
    load = os.getloadavg()
    binary_mtime = binary.stat().st_mtime
    neighbours_start = busy_neighbours()
    log(f"binary {binary} (built {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(binary_mtime))}); "
        f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")

    pg = None
    if args.pg:
        pg = pgstores.Pg(args.pg_host, args.pg_port, args.pg_user, args.pg_admin_db)
        why = pg.available()
        if why:
            raise BenchError(f"--pg: PostgreSQL does not answer: {why}")

    server = None
    stores = None
    m: dict = {}
    try:
        if stores_ready(work, args.charts, args.rows):
            gen_s = None
            log(f"reusing stores kept in {work} (generation skipped)")
        else:
            gen_s = generate(binary, work, args.charts, args.rows)
        sizes = {p.name: p.stat().st_size for p in [work / "production.db", work / "staging" / f"{ENV_NAME}.db"]}
        stores = PgStores(work, pg, args.charts, args.rows) if pg else SqliteStores(work)
        prep = stores.prepare()
        # The optional index of design §3, as the operator of a large store adds it (once; it is
        # part of the store from then on, and the sync phase's copies have it too).
        m["prepared"] = "no (--no-prepare)"
        if not args.no_prepare:
            said = [run_quick([str(binary), "store", "prepare", url], env=dict(os.environ), cwd=work,
                              name="store prepare").strip() for url in (stores.production_url, stores.staging_url)]
            m["prepared"] = "; ".join(said)
            log(f"chartgate store prepare: {m['prepared']}")

        # Cold registration: the branch on an empty Chartgate database, --cold-runs times (each on
        # a new one); the median is the figure, the peak RSS the highest. The last run's database
        # serves the rest of the benchmark.
        colds = []
        for run in range(1, args.cold_runs + 1):
            db_url = stores.fresh_chartgate_db("main")
            env = chartgate_env(db_url, stores.production_url, stores.template)
            log(f"cold registration {run}/{args.cold_runs}: chartgate branch add {BRANCH} ({stores.label})")
            r = run_measured([str(binary), "branch", "add", BRANCH, "--store", stores.staging_url],
                             env={**env, "RUST_LOG": PHASE_ENV}, cwd=work, deadline_s=3600, name="branch-add")
            colds.append(r)
            log(f"  {r['wall']:.2f} s, max RSS {r['max_rss_kb'] / 1024:.0f} MB: {r['stdout'].strip()}")
        m["cold_walls"] = [c["wall"] for c in colds]
        m["cold_phases"] = [phases_of(c["stderr"]) for c in colds]
        m["cold_wall"] = median(m["cold_walls"])
        m["cold_rss_kb"] = max(c["max_rss_kb"] for c in colds)
        m["cold_line"] = colds[-1]["stdout"].strip()
        if len({c["stdout"].strip() for c in colds}) != 1:
            notes.append("CHARTGATE DISAGREES WITH ITSELF across cold registrations: "
                         + "; ".join(c["stdout"].strip() for c in colds))
        m["db_bytes"], m["db_detail"] = stores.chartgate_db_size(db_url)
        m["db_what"] = "chartgate.db + -wal + -shm" if not pg else "pg_database_size"
        log(f"  Chartgate's database: {m['db_bytes'] / 1e6:.1f} MB ({m['db_detail']})")
        cold_items = re.search(r"\((\d+) items", m["cold_line"])

        run_quick([str(binary), "users", "add", USER, "--role", "lead"], env=env, cwd=work, name="users add")
        token = run_quick([str(binary), "tokens", "create", USER], env=env, cwd=work,
                          name="tokens create").strip().splitlines()[-1].strip()

        server = Server(binary, env, work)
        log(f"server listening on port {server.port} (pid {server.proc.pid})")
        api = Api(server.port, token)
        base = f"/api/v1/branches/{ENV_NAME}"

        log("warm full rescan: POST rescan?full=true")
        body, wall, _ = api.request("POST", f"{base}/rescan?full=true", timeout=3600)
        m["warm_ms"], m["warm_wall"], m["warm_report"] = body["duration_ms"], wall, body
        log(f"  duration_ms {body['duration_ms']}, wall {wall:.2f} s, items {body['items']}, "
            f"production {body['production']}, staging {body['staging']}")

        m["unchanged"] = rescans(api, base, args.rescans)
        log(f"rescans, files untouched: duration_ms {m['unchanged']['all_ms']}, "
            f"wall median {m['unchanged']['wall_median'] * 1000:.0f} ms")
        m["touched"] = rescans(api, base, args.rescans, before=stores.touch)
        log(f"rescans, files touched: duration_ms {m['touched']['all_ms']}, "
            f"wall median {m['touched']['wall_median'] * 1000:.0f} ms; last production "
            f"{m['touched']['last']['production']}, staging {m['touched']['last']['staging']}")
        if not pg and any(r["staging"].get("unchanged_store") or r["production"].get("unchanged_store")
                          for r in m["touched"]["reports"]):
            notes.append("a rescan after touching the store files still reported `unchanged_store`")

        m["lists"], totals = {}, {}
        for q in LIST_QUERIES:
            server_ms, wall_ms = [], []
            for _ in range(args.requests):
                body, wall, dur = api.request("GET", f"{base}/diffs?{q}")
                if dur is None:
                    raise BenchError("no server-timing header on the diff list")
                server_ms.append(dur)
                wall_ms.append(wall * 1000)
            totals[q] = body["total"]
            m["lists"][f"?{q}"] = {"n": len(server_ms), "server_ms": median(server_ms), "wall_ms": median(wall_ms),
                                   "max_server_ms": max(server_ms), "total": body["total"],
                                   "returned": len(body["items"])}
            log(f"diffs?{q} (one reader): server median {median(server_ms):.1f} ms (max {max(server_ms):.1f}), "
                f"wall median {median(wall_ms):.1f} ms, total {body['total']}, returned {len(body['items'])}")

        if args.only_scan:
            m["readers_skipped"] = "skipped (--only-scan)"
        else:
            log(f"diff list: {args.readers} concurrent readers × {args.reader_requests} requests")
            c = concurrent_readers(server.port, token, args.readers, args.reader_requests)
            m["readers"] = c
            log(f"  {c['n']} requests in {c['elapsed_s']:.1f} s ({c['rps']:.0f}/s): server p50 "
                f"{c['server_p50']:.1f} ms, p99 {c['server_p99']:.1f} ms, max {c['server_max']:.1f} ms; "
                f"client p50 {c['client_p50']:.1f} ms, p99 {c['client_p99']:.1f} ms")

        cg_items = fetch_all_items(api)
        m["server_rss_kb"] = server.vm_hwm_kb()
        stop = server.stop()
        server = None
        log(f"server {stop}; peak RSS {m['server_rss_kb'] / 1024:.0f} MB")
        if not stop.startswith("stopped"):
            notes.append(f"server {stop}")

        m["items"] = totals["per_page=50"]
        counts = {
            "cold registration (branch add)": int(cold_items.group(1)) if cold_items else None,
            "warm full rescan": m["warm_report"]["items"],
            "rescans, files untouched": sorted(m["unchanged"]["items"]),
            "rescans, files touched": sorted(m["touched"]["items"]),
            "diffs total": m["items"],
            "diff items fetched": len(cg_items),
        }
        flat_counts = {x for v in counts.values() for x in (v if isinstance(v, list) else [v])}
        if len(flat_counts) != 1:
            notes.append(f"CHARTGATE DISAGREES WITH ITSELF on the item count: {counts}")

        ref = run_reference(work)

        # Compare chartgate's items with the reference's.
        ref_items = ref["item_list"]
        cg = {it["chart_id"]: it for it in cg_items}
        only_cg, only_ref = sorted(set(cg) - set(ref_items)), sorted(set(ref_items) - set(cg))
        kind_diff = sorted(c for c in set(cg) & set(ref_items) if cg[c]["kind"] != ref_items[c]["kind"])
        mismatch = bool(m["items"] != ref["items"] or only_cg or only_ref or kind_diff
                        or any("DISAGREES" in n for n in notes))
        checked = agree = 0
        disagree: list[str] = []
        for cid, it in cg.items():
            for side, theirs, ours in (
                ("staging", it.get("staging_hash"), ref_items.get(cid, {}).get("staging_hash")),
                ("production", it.get("production_hash"), ref["production_hashes"].get(cid)),
            ):
                if cid not in ref_items and side == "staging":
                    continue
                checked += 1
                if theirs == ours:
                    agree += 1
                elif len(disagree) < 5:
                    disagree.append(f"{cid} {side}: chartgate {theirs} reference {ours}")

        # The sync, on copies: the stores --keep reuses and the comparison above stay as they are.
        sync_failed = None
        if args.only_scan:
            m["sync_skipped"] = "skipped (--only-scan)"
        else:
            try:
                m["sync"] = sync_phase(binary, work, stores, ref, cg_items, args.sync_charts)
            except (BenchError, pgstores.PgError) as e:
                sync_failed = str(e)
                m["sync_skipped"] = "FAILED (see notes)"
                notes.append(f"SYNC PHASE FAILED: {e}")
                log(f"sync phase failed: {e}")
    finally:
        if server is not None:
            log(f"server {server.stop()}")

    load_end = os.getloadavg()
    neighbours = sorted(set(neighbours_start) | set(busy_neighbours()))
    if neighbours:
        notes.append(f"compilers were running beside the benchmark (at start or end): {', '.join(neighbours[:6])}"
                     f"{' …' if len(neighbours) > 6 else ''}; timings are skewed, rerun on a quiet machine")
    if binary.stat().st_mtime != binary_mtime:
        notes.append("THE BINARY CHANGED DURING THE RUN: rerun")

    v = Verdicts(args.charts, args.rows, pg=bool(pg))
    sync_ok = m.get("sync", {}).get("ok", True)
    rows = table(m, ref, v, not mismatch)
    md = markdown(rows)
    warm = m["warm_report"]
    scope = ("all targets apply" if v.full and not v.large else
             f"at {args.charts:,} charts only cold registration, the touched rescan and peak RSS apply" if v.large else
             f"targets apply at {TARGET_AT_CHARTS:,} charts × {TARGET_AT_ROWS} rows; none judged at this size")
    cmd = " ".join(["python3 bench/scan_bench.py", f"--charts {args.charts}", f"--rows {args.rows}"]
                   + (["--pg"] if args.pg else []) + (["--only-scan"] if args.only_scan else [])
                   + (["--keep"] if args.keep else []))
    details = [
        f"- command: `{cmd}`; {time.strftime('%Y-%m-%d %H:%M')}; {platform.node()}, {os.cpu_count()} CPUs, "
        f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, at end {load_end[0]:.2f}; binary built "
        f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(binary_mtime))}",
        f"- stores: {stores.label}; {args.charts:,} charts × {args.rows} rows; production.db "
        f"{sizes['production.db'] / 1e6:.0f} MB, staging {sizes[ENV_NAME + '.db'] / 1e6:.0f} MB (SQLite files); "
        f"generation " + (f"{gen_s:.1f} s (not timed)" if gen_s is not None else "skipped (kept stores reused)")
        + (f"; copy into PostgreSQL {prep['pg_copy_s']:.1f} s (not timed)" if prep.get("pg_copy_s") else
           "; PostgreSQL copies reused" if pg else ""),
        f"- verdicts: {scope}",
        f"- stores prepared (`chartgate store prepare`, the optional index of design §3): {m['prepared']}",
        f"- cold registration output: `{m['cold_line']}`; Chartgate's database {m['db_detail']}",
        f"- warm full rescan: duration_ms {warm['duration_ms']}, production {json.dumps(warm['production'])}, "
        f"staging {json.dumps(warm['staging'])}",
        *(f"- rescans, files {word}: duration_ms {m[k]['all_ms']}; last: production "
          f"{json.dumps(m[k]['last']['production'])}, staging {json.dumps(m[k]['last']['staging'])}"
          for k, word in (("unchanged", "untouched"), ("touched", "touched"))),
        *(f"- diff list `{k}`, one reader × {d['n']}: server median {d['server_ms']:.1f} ms, max "
          f"{d['max_server_ms']:.1f} ms, wall median {d['wall_ms']:.1f} ms; total {d['total']}, returned {d['returned']}"
          for k, d in m["lists"].items()),
    ]
    c = m.get("readers")
    if c:
        details.append(
            f"- concurrent readers: {c['n']} requests in {c['elapsed_s']:.1f} s ({c['rps']:.0f}/s); server p50 "
            f"{c['server_p50']:.1f} / p99 {c['server_p99']:.1f} / max {c['server_max']:.1f} ms; client p50 "
            f"{c['client_p50']:.1f} / p99 {c['client_p99']:.1f} / max {c['client_max']:.1f} ms; per query p50/p99: "
            + ", ".join(f"`{q}` {d['p50']:.1f}/{d['p99']:.1f} ms" for q, d in c["by_query"].items()))
    sy = m.get("sync")
    if sy:
        details.append(
            f"- sync: job {sy['job_id']} {sy['status']}, {sy['total']} items ({sy['branch_items']} items on the "
            f"branch), outcomes {json.dumps(sy['outcomes'])}, skip reasons {json.dumps(sy['reasons'])}; enqueue "
            f"{sy['enqueue_s'] * 1000:.0f} ms, enqueue → finished {fmt_s(sy['wall_s'])} ({sy['polls']} polls), "
            f"server created → finished {fmt_s(sy['server_s'])}, started → finished {fmt_s(sy['run_s'])}; "
            f"set-up not timed: copies {fmt_s(sy['copy_s'])}, `branch add` {fmt_s(sy['register_s'])}, bulk "
            f"approval {fmt_s(sy['approve_s'])}; production copy = staging copy for {sy['same_content']}/"
            f"{sy['requested']} ({sy['same_bytes']} byte-identical)" + (f", differ e.g. {sy['differ']}" if sy['differ'] else "")
            + f"; sync server {sy['stop']}")
    details += [
        f"- reference: {ref['items']} items {ref['kinds']} (conflicts {ref['conflicts']}, errors {ref['errors']}); "
        f"production {ref['production']['rows']} rows in {ref['production']['seconds']:.1f} s, staging "
        f"{ref['staging']['rows']} rows in {ref['staging']['seconds']:.1f} s; wall {ref['wall']:.1f} s",
        f"- item sets: {len(only_cg)} only in chartgate {only_cg[:5]}, {len(only_ref)} only in reference "
        f"{only_ref[:5]}, {len(kind_diff)} with another kind {kind_diff[:5]}",
        f"- version hashes (informational): {agree}/{checked} of chartgate's staging/production hashes of the "
        f"items equal the reference's" + (f"; e.g. {disagree}" if disagree else ""),
        *(f"- NOTE: {n}" for n in notes),
    ]
    text = md + "\n\n" + phase_table(m) + "\n\n" + "\n".join(details) + "\n"
    print()
    print(text)
    OUT.mkdir(parents=True, exist_ok=True)
    title = f"# Chartgate scan benchmark ({stores.label}, {args.charts:,} charts)\n\n"
    (OUT / "results.md").write_text(title + text)
    tag = f"{'pg' if pg else 'sqlite'}-{args.charts}"
    (OUT / f"results-{tag}.md").write_text(title + text)
    log(f"wrote {OUT / 'results.md'} (and results-{tag}.md)")
    if mismatch:
        print("\n" + "!" * 72 + f"\n!!! MISMATCH: chartgate found {m['items']} items, the reference {ref['items']} "
              f"({len(only_cg)} only in chartgate, {len(only_ref)} only in the reference, {len(kind_diff)} of "
              "another kind)\n" + "!" * 72)
    if not sync_ok:
        print("\n" + "!" * 72 + "\n!!! SYNC MISMATCH: see the sync line above\n" + "!" * 72)
    if args.keep:
        log(f"kept {work}")
    stores.cleanup(args.keep)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    if mismatch or not sync_ok:
        return 1
    return 2 if sync_failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BenchError, pgstores.PgError) as e:
        print(f"\nBENCHMARK FAILED: {e}", file=sys.stderr)
        sys.exit(2)
