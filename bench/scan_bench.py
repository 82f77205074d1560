#!/usr/bin/env python3
"""Benchmark Chartgate's scan engine against a plain-Python reference on the same stores.

    python3 bench/scan_bench.py [--charts 20000] [--rows 350] [--keep]

Generates demo stores with `chartgate demo` (not timed), then measures, all against the real
binary: a cold full scan (`chartgate branch add` on an empty Chartgate database), a warm full
scan (`POST /rescan?full=true`), unchanged rescans, diff-list requests, and peak RSS of the
server and of the cold-scan CLI. Runs bench/reference.py on the same stores and prints a table
(also written to bench/out/results.md). Exits non-zero when the item counts (or item sets)
differ, or when Chartgate fails. Standard library only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import selectors
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
BRANCH = "feature/energy-update"
ENV_NAME = "feature-energy-update"
USER = "bench@example.org"

TARGET_FULL_S = 2.0
TARGET_UNCHANGED_S = 0.3
TARGET_LIST_MS = 50.0
TARGET_RSS_MB = 200.0
TARGET_SPEEDUP = 20.0
TARGET_AT_CHARTS = 20_000


class BenchError(Exception):
    pass


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- processes ------------------------------------------------------------------------------


def chartgate_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARTGATE_")}
    env.update(
        CHARTGATE_DATABASE_URL=f"sqlite://{work / 'chartgate.db'}",
        CHARTGATE_PRODUCTION_URL=f"sqlite://{work / 'production.db'}",
        CHARTGATE_STAGING_URL_TEMPLATE=f"sqlite://{work / 'staging'}/{{branch}}.db",
        CHARTGATE_LISTEN="127.0.0.1:0",
        CHARTGATE_SCAN_INTERVAL="0s",
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
    def __init__(self, binary: Path, env, cwd: Path, deadline_s: float = 60):
        self.err = open(cwd / "serve.stderr", "wb")
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
                raise BenchError(f"server exited (code {self.proc.wait()}) before listening; see serve.stderr")
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
    def __init__(self, port: int, token: str):
        self.port, self.token = port, token
        self.conn = None

    def request(self, method: str, path: str, timeout: float = 30):
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            self.conn.timeout = timeout
            if self.conn.sock is not None:
                self.conn.sock.settimeout(timeout)
            try:
                started = time.perf_counter()
                self.conn.request(method, path, headers={"Authorization": f"Bearer {self.token}", "Content-Length": "0"})
                resp = self.conn.getresponse()
                body = resp.read()
                wall = time.perf_counter() - started
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        if resp.status != 200:
            raise BenchError(f"{method} {path}: HTTP {resp.status}: {body[:500]!r}")
        timing = resp.getheader("server-timing") or ""
        m = re.search(r"dur=([0-9.]+)", timing)
        return json.loads(body), wall, (float(m.group(1)) if m else None)


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


def generate(binary: Path, work: Path, env, charts: int, rows: int) -> float:
    if work.exists():
        shutil.rmtree(work)
    (work / "staging").mkdir(parents=True)
    log(f"generating stores: chartgate demo --charts {charts} --rows {rows} (not timed)")
    r = run_measured([str(binary), "demo", "--charts", str(charts), "--rows", str(rows)],
                     env=env, cwd=work, deadline_s=3600, name="demo")
    (work / "stores.json").write_text(json.dumps({"charts": charts, "rows": rows}))
    log(f"generated in {r['wall']:.1f} s: {r['stdout'].strip()}")
    return r["wall"]


def remove_db(work: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        p = work / f"chartgate.db{suffix}"
        if p.exists():
            p.unlink()


def median(xs):
    return statistics.median(xs) if xs else float("nan")


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
        env=dict(os.environ), cwd=work, deadline_s=7200, name="reference",
    )
    result = json.loads(r["stdout"])
    result["wall"] = r["wall"]
    result["child_max_rss_kb"] = r["max_rss_kb"]
    log(f"reference: {result['items']} items in {r['wall']:.1f} s, max RSS {r['max_rss_kb'] / 1024:.0f} MB")
    return result


# --- report -------------------------------------------------------------------------------------


def fmt_s(s):
    return f"{s:.2f} s" if s < 10 else f"{s:.1f} s"


def verdict(ok: bool, text: str, applies: bool = True) -> str:
    if not applies:
        return f"{text} (at {TARGET_AT_CHARTS:,} charts)"
    return f"{text}: {'PASS' if ok else 'FAIL'}"


def table(m: dict, ref: dict, charts: int) -> list[list[str]]:
    at_scale = charts >= TARGET_AT_CHARTS
    rows = [["metric", "chartgate", "target", "python reference", "speed-up"]]
    cold, warm = m["cold_wall"], m["warm_ms"] / 1000
    ref_s = ref["wall"]
    rows.append([
        "cold full scan (`branch add`, empty DB; wall)", fmt_s(cold),
        verdict(cold <= TARGET_FULL_S, "≤ 2 s", at_scale), fmt_s(ref_s),
        verdict(ref_s / cold >= TARGET_SPEEDUP, f"{ref_s / cold:.1f}× (≥ 20×)", at_scale),
    ])
    rows.append([
        "warm full scan (`rescan?full=true`, duration_ms)", f"{fmt_s(warm)} (wall {fmt_s(m['warm_wall'])})",
        verdict(warm <= TARGET_FULL_S, "≤ 2 s", at_scale), fmt_s(ref_s),
        verdict(ref_s / warm >= TARGET_SPEEDUP, f"{ref_s / warm:.1f}× (≥ 20×)", at_scale),
    ])
    un = m["unchanged_ms"] / 1000
    rows.append([
        f"unchanged rescan (median of {len(m['unchanged_all'])}, duration_ms)",
        f"{fmt_s(un)} (wall {fmt_s(m['unchanged_wall'])})",
        verdict(un <= TARGET_UNCHANGED_S, "≤ 0.3 s", at_scale), "—", "—",
    ])
    for label, d in m["lists"].items():
        rows.append([
            f"diff list `{label}` (median of {d['n']}, server time)",
            f"{d['server_ms']:.1f} ms (wall {d['wall_ms']:.1f} ms)",
            verdict(d["server_ms"] <= TARGET_LIST_MS, "≤ 50 ms", at_scale), "—", "—",
        ])
    srv, cli = m["server_rss_kb"] / 1024, m["cold_rss_kb"] / 1024
    rows.append(["peak RSS, server (VmHWM at end)", f"{srv:.0f} MB",
                 verdict(srv <= TARGET_RSS_MB, "≤ 200 MB", at_scale), "—", "—"])
    rows.append(["peak RSS, cold-scan CLI (wait4 ru_maxrss)", f"{cli:.0f} MB",
                 verdict(cli <= TARGET_RSS_MB, "≤ 200 MB", at_scale),
                 f"{ref['child_max_rss_kb'] / 1024:.0f} MB", "—"])
    same = m["items"] == ref["items"]
    rows.append(["items found", str(m["items"]), f"= reference: {'PASS' if same else 'MISMATCH'}",
                 str(ref["items"]), "—"])
    return rows


def markdown(rows: list[list[str]]) -> str:
    def esc(c):
        return c.replace("|", "\\|")
    out = ["| " + " | ".join(esc(c) for c in rows[0]) + " |", "| " + " | ".join("---" for _ in rows[0]) + " |"]
    out += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows[1:]]
    return "\n".join(out)


# --- main ---------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description="Chartgate scan benchmark")
    ap.add_argument("--charts", type=int, default=20_000)
    ap.add_argument("--rows", type=int, default=350)
    ap.add_argument("--keep", action="store_true",
                    help="keep the work dir (stores) afterwards; a later run with the same sizes reuses its stores")
    ap.add_argument("--requests", type=int, default=30, help="requests per diff-list variant")
    ap.add_argument("--binary", type=Path, default=ROOT / "target" / "release" / "chartgate")
    ap.add_argument("--build", action="store_true", help="run cargo build --release first (default: only if missing)")
    args = ap.parse_args()

    binary = args.binary.resolve()
    if args.build or not binary.exists():
        build(binary)
    work = OUT / f"run-{args.charts}"
    env = chartgate_env(work)
    notes: list[str] = []
    load = os.getloadavg()
    log(f"binary {binary} (built {time.strftime('%Y-%m-%d %H:%M', time.localtime(binary.stat().st_mtime))}); "
        f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")

    server = None
    try:
        if stores_ready(work, args.charts, args.rows):
            gen_s = None
            log(f"reusing stores kept in {work} (generation skipped)")
        else:
            gen_s = generate(binary, work, env, args.charts, args.rows)
        sizes = {p.name: p.stat().st_size for p in [work / "production.db", work / "staging" / f"{ENV_NAME}.db"]}

        m: dict = {}
        # Cold full scan: register the branch on an empty Chartgate database.
        remove_db(work)
        log(f"cold full scan: chartgate branch add {BRANCH}")
        r = run_measured(
            [str(binary), "branch", "add", BRANCH, "--store", f"sqlite://{work / 'staging' / (ENV_NAME + '.db')}"],
            env=env, cwd=work, deadline_s=1800, name="branch-add",
        )
        m["cold_wall"], m["cold_rss_kb"], m["cold_line"] = r["wall"], r["max_rss_kb"], r["stdout"].strip()
        log(f"  {r['wall']:.2f} s, max RSS {r['max_rss_kb'] / 1024:.0f} MB: {m['cold_line']}")
        cold_items = re.search(r"\((\d+) items", m["cold_line"])

        run_quick([str(binary), "users", "add", USER, "--role", "lead"], env=env, cwd=work, name="users add")
        token = run_quick([str(binary), "tokens", "create", USER], env=env, cwd=work,
                          name="tokens create").strip().splitlines()[-1].strip()

        server = Server(binary, env, work)
        log(f"server listening on port {server.port} (pid {server.proc.pid})")
        api = Api(server.port, token)
        base = f"/api/v1/branches/{ENV_NAME}"

        log("warm full scan: POST rescan?full=true")
        body, wall, _ = api.request("POST", f"{base}/rescan?full=true", timeout=1800)
        m["warm_ms"], m["warm_wall"], m["warm_report"] = body["duration_ms"], wall, body
        log(f"  duration_ms {body['duration_ms']}, wall {wall:.2f} s, items {body['items']}, "
            f"production {body['production']}, staging {body['staging']}")

        unchanged, unchanged_wall, last = [], [], None
        for _ in range(5):
            body, wall, _ = api.request("POST", f"{base}/rescan", timeout=600)
            unchanged.append(body["duration_ms"])
            unchanged_wall.append(wall)
            last = body
        m["unchanged_ms"], m["unchanged_all"], m["unchanged_wall"] = median(unchanged), unchanged, median(unchanged_wall)
        m["unchanged_report"] = last
        log(f"unchanged rescans: duration_ms {unchanged}, wall median {m['unchanged_wall'] * 1000:.0f} ms")

        m["lists"], totals = {}, {}
        for q in ["per_page=50", "q=gdp", "kind=modified&page=2"]:
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
            log(f"diffs?{q}: server median {median(server_ms):.1f} ms (max {max(server_ms):.1f}), "
                f"wall median {median(wall_ms):.1f} ms, total {body['total']}, returned {len(body['items'])}")

        cg_items = fetch_all_items(api)
        m["server_rss_kb"] = server.vm_hwm_kb()
        stop = server.stop()
        server = None
        log(f"server {stop}; peak RSS {m['server_rss_kb'] / 1024:.0f} MB")
        if not stop.startswith("stopped"):
            notes.append(f"server {stop}")

        m["items"] = totals["per_page=50"]
        counts = {
            "cold scan (branch add)": int(cold_items.group(1)) if cold_items else None,
            "warm full scan": m["warm_report"]["items"],
            "unchanged rescan": m["unchanged_report"]["items"],
            "diffs total": m["items"],
            "diff items fetched": len(cg_items),
        }
        if len(set(counts.values())) != 1:
            notes.append(f"CHARTGATE DISAGREES WITH ITSELF on the item count: {counts}")

        ref = run_reference(work)
    finally:
        if server is not None:
            log(f"server {server.stop()}")

    # Compare chartgate's items with the reference's.
    failed = False
    ref_items = ref["item_list"]
    cg = {it["chart_id"]: it for it in cg_items}
    only_cg, only_ref = sorted(set(cg) - set(ref_items)), sorted(set(ref_items) - set(cg))
    kind_diff = sorted(c for c in set(cg) & set(ref_items) if cg[c]["kind"] != ref_items[c]["kind"])
    if m["items"] != ref["items"] or only_cg or only_ref or any("DISAGREES" in n for n in notes):
        failed = True
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

    rows = table(m, ref, args.charts)
    md = markdown(rows)
    warm = m["warm_report"]
    details = [
        f"- command: `python3 bench/scan_bench.py --charts {args.charts} --rows {args.rows}"
        f"{' --keep' if args.keep else ''}`; {time.strftime('%Y-%m-%d %H:%M')}; "
        f"{platform.node()}, {os.cpu_count()} CPUs, load average at start {load[0]:.2f}",
        f"- stores: {args.charts:,} charts × {args.rows} rows; production.db {sizes['production.db'] / 1e6:.0f} MB, "
        f"staging {sizes[ENV_NAME + '.db'] / 1e6:.0f} MB; generation "
        + (f"{gen_s:.1f} s (not timed)" if gen_s is not None else "skipped (kept stores reused)"),
        f"- cold scan output: `{m['cold_line']}`",
        f"- warm full scan: duration_ms {warm['duration_ms']}, production {json.dumps(warm['production'])}, "
        f"staging {json.dumps(warm['staging'])}",
        f"- unchanged rescans duration_ms: {m['unchanged_all']}; last: production "
        f"{json.dumps(m['unchanged_report']['production'])}, staging {json.dumps(m['unchanged_report']['staging'])}",
        *(f"- diff list `{k}`: total {d['total']}, returned {d['returned']}, server max {d['max_server_ms']:.1f} ms"
          for k, d in m["lists"].items()),
        f"- reference: {ref['items']} items {ref['kinds']} (conflicts {ref['conflicts']}, errors {ref['errors']}); "
        f"production {ref['production']['rows']} rows in {ref['production']['seconds']:.1f} s, staging "
        f"{ref['staging']['rows']} rows in {ref['staging']['seconds']:.1f} s; wall {ref['wall']:.1f} s",
        f"- item sets: {len(only_cg)} only in chartgate {only_cg[:5]}, {len(only_ref)} only in reference "
        f"{only_ref[:5]}, {len(kind_diff)} with another kind {kind_diff[:5]}",
        f"- version hashes (informational): {agree}/{checked} of chartgate's staging/production hashes of the "
        f"items equal the reference's" + (f"; e.g. {disagree}" if disagree else ""),
        *(f"- NOTE: {n}" for n in notes),
    ]
    text = md + "\n\n" + "\n".join(details) + "\n"
    print()
    print(text)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.md").write_text(f"# Chartgate scan benchmark\n\n{text}")
    log(f"wrote {OUT / 'results.md'}")
    if failed:
        print("\n" + "!" * 72 + f"\n!!! MISMATCH: chartgate found {m['items']} items, the reference {ref['items']} "
              f"({len(only_cg)} only in chartgate, {len(only_ref)} only in the reference)\n" + "!" * 72)
    if args.keep:
        log(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"\nBENCHMARK FAILED: {e}", file=sys.stderr)
        sys.exit(2)
