#!/usr/bin/env python3
"""Team review (issue 25): what every reviewer's verdict costs the diff list, and how fast
"waiting on me" answers, against the real release binary.

    python3 bench/team_review.py [--quick] [--items 20000] [--branches 50] [--rounds 3] [--keep]

Two measurements, each against a baseline taken in the same run:

1. The diff list of a branch of `--items` items (every chart of a `chartgate demo` production,
   changed in a copy of it), read by `--readers` concurrent readers, on servers over the same
   registration: the baseline (no `[review]` policy, no verdict), the team server
   (`required_approvals = 2` and two owner rules; three reviewers' verdicts on every item, given
   through `POST /reviews/bulk`) and, informational, one person's decision per item with the
   team server's outcome. The servers are read in rotating order, `--rounds` rounds; the figure
   is the median of the rounds' p99 (`server-timing`). Target: team ≤ 1.2 × baseline.
2. `GET /api/v1/me/reviews` over `--branches` open branches of 200-400 items each, with review
   requests (some charts of every branch, the whole branch on a few), an owner rule and stale
   verdicts of the caller: `--me-calls` sequential calls and `--me-callers` concurrent callers,
   `--rounds` rounds, median of the rounds' p50 and p99. Target: ≤ 100 ms each. One branch's
   diff list, read the same way on the same server, is printed beside it for scale. The number
   of items it finds is checked against the expected one (computed here from what was asked,
   owned and decided).

Prints one table (also written to bench/out/team-review.md), the servers' peak RSS, the load
average, the plans SQLite chooses for the "waiting on me" queries (EXPLAIN QUERY PLAN) with
their time in Python's sqlite3, and, after the timed rounds, where a request's time goes
(each server again with sqlx's statement log: every statement's time and rows). `--quick` runs small sizes (a smoke run; nothing judged).
Exit status: 0 when the checks agree, 1 on a wrong count, 2 when a Chartgate command fails.
Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scan_bench as sb  # noqa: E402  (the scan benchmark's process and HTTP helpers)

TARGET_LIST_RATIO = 1.2
TARGET_ME_MS = 100.0
FULL_ITEMS, FULL_BRANCHES = 20_000, 50

LEAD = "bench@example.org"
# The list's three reviewers; `tom` owns population and life-expectancy charts, `olga` (who gives
# no verdict) GDP and CO2 ones, so those stay pending: a mix of approved, pending and rejected.
REVIEWERS = ["rita@example.org", "sam@example.org", "tom@example.org"]
OLGA = "olga@example.org"
LIST_POLICY = f"""[review]
required_approvals = 2

[[review.owners]]
slugs = ["gdp-per-capita-*", "co2-emissions-*"]
reviewers = ["{OLGA}"]

[[review.owners]]
slugs = ["population-*", "life-expectancy-*"]
reviewers = ["{REVIEWERS[2]}"]
"""

# "Waiting on me": `ME` is asked, owns GDP and CO2 charts (after `ANA`'s rule, which takes
# population charts first), and has stale approvals; `SAM` approves the first 100 items of each
# branch, so owned items have one approval of the two required.
ME, ANA, SAM = "me@example.org", "ana@example.org", "sam@example.org"
# The other concurrent callers: asked for the same charts as ME (nothing owned, nothing decided).
PEERS = [f"peer{k}@example.org" for k in range(1, 8)]
INBOX_POLICY = f"""[review]
required_approvals = 2

[[review.owners]]
slugs = ["population-*"]
reviewers = ["{ANA}"]

[[review.owners]]
slugs = ["gdp-per-capita-*", "co2-emissions-*"]
reviewers = ["{ME}"]
"""
# (mine, earlier) `like` patterns of ME's owner rules, as policy.rs's `owned_patterns` makes them.
ME_OWNED = [(["gdp-per-capita-%", "co2-emissions-%"], ["population-%"])]

LIST_BRANCH = "team/list-review"
INBOX_BRANCH = "team/inbox-{:02d}"
FIRST_EDIT_AT = "2030-01-01T00:00:00Z"
SECOND_EDIT_AT = "2030-01-02T00:00:00Z"


def env_name(raw: str) -> str:
    return "".join(c if c.isascii() and c.isalnum() else "-" for c in raw)


def owned_by_me(slug: str) -> bool:
    return not slug.startswith("population-") and slug.startswith(("gdp-per-capita-", "co2-emissions-"))


# --- stores ---------------------------------------------------------------------------------------


def demo_production(binary: Path, work: Path, charts: int, rows: int, keep: bool) -> Path:
    """`chartgate demo`'s production store in `work` (reused with --keep), prepared (the optional
    index of design §3); the demo's own registrations and staging stores are dropped."""
    marker = work / "production.json"
    want = {"charts": charts, "rows": rows}
    if keep and marker.exists() and (work / "production.db").exists():
        try:
            if json.loads(marker.read_text()) == want:
                sb.log(f"reusing {work / 'production.db'}")
                return work / "production.db"
        except ValueError:
            pass
    if work.exists():
        shutil.rmtree(work)
    (work / "staging").mkdir(parents=True)
    env = sb.work_env(work)
    sb.log(f"generating production: chartgate demo --charts {charts} --rows {rows} (not timed)")
    r = sb.run_measured([str(binary), "demo", "--charts", str(charts), "--rows", str(rows)],
                        env=env, cwd=work, deadline_s=3600, name="demo")
    sb.log(f"  {r['wall']:.1f} s")
    for p in list((work / "staging").iterdir()) + [work / f"chartgate.db{s}" for s in ("", "-wal", "-shm")]:
        p.unlink(missing_ok=True)
    sb.run_quick([str(binary), "store", "prepare", f"sqlite://{work / 'production.db'}"], env=dict(os.environ),
                 cwd=work, name="store prepare")
    marker.write_text(json.dumps(want))
    return work / "production.db"


def charts_of(db: Path) -> list[tuple[str, str]]:
    """(id, slug) of every chart, by id."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute("select id, slug from charts order by id").fetchall()
    finally:
        con.close()


def edit(db: Path, ids: list[str], at: str, note: str) -> None:
    """Changes `ids` in a store: config, data or metadata by turns (every part gets items)."""
    con = sqlite3.connect(db, timeout=30)
    try:
        with con:
            for k, cid in enumerate(ids):
                part = ("config", "data", "metadata")[k % 3]
                path = {"config": "$.subtitle", "data": "$.bench_note", "metadata": "$.description"}[part]
                con.execute(f"update charts set {part} = json_set({part}, '{path}', ?), updated_at = ? where id = ?",
                            (note, at, cid))
    finally:
        con.close()


def staging_copy(production: Path, work: Path, raw: str) -> Path:
    dst = work / "staging" / f"{env_name(raw)}.db"
    sb.sqlite_copy(production, dst)
    return dst


def register(binary: Path, env, work: Path, raw: str, store: Path) -> dict:
    return sb.run_measured([str(binary), "branch", "add", raw, "--store", f"sqlite://{store}"],
                           env=env, cwd=work, deadline_s=1800, name="branch-add")


def add_users(binary: Path, env, work: Path, users: list[tuple[str, str]]) -> dict[str, str]:
    tokens = {}
    for email, role in users:
        sb.run_quick([str(binary), "users", "add", email, "--role", role], env=env, cwd=work, name="users add")
        tokens[email] = sb.run_quick([str(binary), "tokens", "create", email], env=env, cwd=work,
                                     name="tokens create").strip().splitlines()[-1].strip()
    return tokens


def fresh_db(path: Path) -> str:
    for s in ("", "-wal", "-shm"):
        Path(f"{path}{s}").unlink(missing_ok=True)
    return f"sqlite://{path}"


def items_of(db: Path, branch: str) -> list[tuple[str, str]]:
    """(chart_id, slug) of a branch's items, by chart id (read beside the running server)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute("select chart_id, slug from branch_items where branch = ? order by chart_id",
                           (branch,)).fetchall()
    finally:
        con.close()


def bulk(api: sb.Api, branch: str, status: str, ids: list[str]) -> tuple[int, int, float]:
    decided = refused = 0
    started = time.perf_counter()
    for i in range(0, len(ids), 1000):
        body, _, _ = api.request("POST", f"/api/v1/branches/{branch}/reviews/bulk", timeout=600,
                                 body={"status": status, "chart_ids": ids[i:i + 1000], "comment": "team bench"})
        decided += len(body["decided"])
        refused += len(body["refused"])
    return decided, refused, time.perf_counter() - started


# --- measuring ------------------------------------------------------------------------------------


def sequential(port: int, token: str, paths: list[str], n: int) -> dict:
    api = sb.Api(port, token)
    samples: list[tuple[int, float, float]] = []
    try:
        for k in range(n):
            _, wall, dur = api.request("GET", paths[k % len(paths)], timeout=120, parse=False)
            if dur is None:
                raise sb.BenchError(f"no server-timing header on {paths[0]}")
            samples.append((k % len(paths), dur, wall * 1000))
    finally:
        api.close()
    return summary(samples, paths, 1, n)


def concurrent(port: int, token: str | list[str], paths: list[str], threads: int, per_thread: int) -> dict:
    """`threads` callers, each on its own keep-alive connection, released together, `per_thread`
    requests each over `paths` (each caller starting at another one). `token` is everyone's, or
    one per caller."""
    tokens = token if isinstance(token, list) else [token] * threads
    barrier = threading.Barrier(threads + 1)
    samples: list[list[tuple[int, float, float]]] = [[] for _ in range(threads)]
    errors: list[str] = []

    def caller(i: int) -> None:
        api = sb.Api(port, tokens[i])
        try:
            api.connect()
        except OSError as e:
            errors.append(f"caller {i}: connect: {e}")
        try:
            barrier.wait(timeout=60)
        except threading.BrokenBarrierError:
            return
        try:
            for k in range(per_thread):
                at = (i + k) % len(paths)
                _, wall, dur = api.request("GET", paths[at], timeout=120, parse=False)
                if dur is None:
                    raise sb.BenchError(f"no server-timing header on {paths[0]}")
                samples[i].append((at, dur, wall * 1000))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"caller {i}: {type(e).__name__}: {e}")
        finally:
            api.close()

    workers = [threading.Thread(target=caller, args=(i,), daemon=True) for i in range(threads)]
    for w in workers:
        w.start()
    barrier.wait(timeout=60)
    started = time.perf_counter()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise sb.BenchError(f"{len(errors)} of {threads} callers failed, e.g. {errors[:3]}")
    flat = [s for per in samples for s in per]
    out = summary(flat, paths, threads, per_thread)
    out["rps"] = len(flat) / elapsed if elapsed else float("nan")
    return out


def summary(samples: list[tuple[int, float, float]], paths: list[str], threads: int, per_thread: int) -> dict:
    """(path index, server ms, client ms) samples: percentiles overall, and p50 per path."""
    p = sb.percentile
    server, client = [s[1] for s in samples], [s[2] for s in samples]
    by_path = {paths[i].rsplit("?", 1)[-1]: p([s[1] for s in samples if s[0] == i], 50)
               for i in sorted({s[0] for s in samples})}
    return {"n": len(server), "threads": threads, "per_thread": per_thread,
            "p50": p(server, 50), "p99": p(server, 99), "max": max(server),
            "client_p50": p(client, 50), "client_p99": p(client, 99), "by_path": by_path}


def over_rounds(runs: list[dict]) -> dict:
    """The median over rounds of each figure; the rounds' own figures kept."""
    return {"p50": statistics.median(r["p50"] for r in runs), "p99": statistics.median(r["p99"] for r in runs),
            "client_p99": statistics.median(r["client_p99"] for r in runs),
            "rounds_p50": [r["p50"] for r in runs], "rounds_p99": [r["p99"] for r in runs],
            "n": runs[0]["n"], "threads": runs[0]["threads"], "per_thread": runs[0]["per_thread"],
            "rps": [r.get("rps") for r in runs], "load": [r.get("load") for r in runs],
            "by_path": {k: statistics.median(r["by_path"][k] for r in runs) for k in runs[0]["by_path"]}}


def fmt_rounds(xs: list[float]) -> str:
    return ", ".join(f"{x:.1f}" for x in xs)


def statement_times(binary: Path, env, work: Path, token: str, path: str, n: int, name: str) -> dict:
    """Where one request's time goes: a server of its own with sqlx's statement log
    (`sqlx::query=debug`, which names each statement with its rows and elapsed time) answers
    `path` `n` times after a warm-up; per statement, the median elapsed ms and rows per call, and
    the median server time. Run after the timed rounds (the log costs time of its own)."""
    env = dict(env, RUST_LOG="warn,sqlx::query=debug")
    server = sb.Server(binary, env, work, name=name)
    try:
        sequential(server.port, token, [path], 5)
        log = work / f"{name}.stderr"
        start = log.stat().st_size
        s = sequential(server.port, token, [path], n)
    finally:
        server.stop()
    text = log.read_bytes()[start:].decode(errors="replace")
    by: dict[str, list[tuple[int, float]]] = {}
    for line in text.splitlines():
        mm = re.search(r'summary="([^"]*)"', line)
        rr = re.search(r"rows_returned=(\d+)", line)
        ee = re.search(r"elapsed_secs=([0-9.eE+-]+)", line)
        if mm and rr and ee:
            by.setdefault(mm.group(1), []).append((int(rr.group(1)), float(ee.group(1)) * 1000))
    stmts = sorted(({"summary": k, "calls": len(v) / n, "rows": statistics.median(r for r, _ in v),
                     "ms": statistics.median(e for _, e in v)} for k, v in by.items()), key=lambda d: -d["ms"] * d["calls"])
    return {"p50": s["p50"], "statements": stmts}


def fmt_statements(st: dict, top: int = 4) -> str:
    return f"server p50 {st['p50']:.2f} ms; " + "; ".join(
        f"`{d['summary'][:48]}` {d['ms']:.2f} ms × {d['calls']:.3g} ({d['rows']:.0f} rows)" for d in st["statements"][:top])


# --- "waiting on me" in SQL, as inbox.rs builds it (for EXPLAIN QUERY PLAN) -------------------------


def waiting_sql(email: str) -> tuple[str, list[str]]:
    values = [email]

    def like(p: str) -> str:
        values.append(p)
        return f"slug like ?{len(values)} escape '\\'"

    owned = []
    for mine, earlier in ME_OWNED:
        m = [like(p) for p in mine]
        e = [like(p) for p in earlier]
        owned.append(f"(({' or '.join(m)}) and not ({' or '.join(e)}))" if e else f"({' or '.join(m)})")

    def verdict_of(current: bool) -> str:
        same, join = ("=", "and") if current else ("<>", "or")
        return ("exists (select 1 from verdicts v where v.branch = item_decisions.branch "
                "and v.chart_id = item_decisions.chart_id and v.reviewer = ?1 and v.status <> 'pending' "
                f"and (coalesce(v.staging_hash, '') {same} coalesce(item_decisions.staging_hash, '') {join} "
                f"coalesce(v.production_hash, '') {same} coalesce(item_decisions.production_hash, '')))")

    requested = ("exists (select 1 from review_requests q where q.branch = item_decisions.branch "
                 "and q.reviewer = ?1 and (q.chart_id = '' or q.chart_id = item_decisions.chart_id))")
    asked = f"{requested} or (in_force <> 'approved' and ({' or '.join(owned)}))" if owned else requested
    clause = f"((({asked}) and not {verdict_of(True)}) or {verdict_of(False)})"
    return f"branch in (select name from branches where state = 'open') and {clause}", values


def explain_me(db: Path, email: str) -> dict:
    where, values = waiting_sql(email)
    queries = {
        "count": f"select count(*) from item_decisions where {where}",
        "page": f"select branch, chart_id from item_decisions where {where} "
                "order by changed_at desc, branch, slug limit 50 offset 0",
    }
    out = {}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        for name, sql in queries.items():
            plan = [r[3] for r in con.execute(f"explain query plan {sql}", values)]
            times, rows = [], None
            for _ in range(5):
                started = time.perf_counter()
                rows = con.execute(sql, values).fetchall()
                times.append((time.perf_counter() - started) * 1000)
            out[name] = {"plan": plan, "ms": statistics.median(times),
                         "result": rows[0][0] if name == "count" else len(rows)}
    finally:
        con.close()
    return out


# --- the two measurements -----------------------------------------------------------------------------


def list_phase(binary: Path, work: Path, args, m: dict, notes: list[str]) -> None:
    production = demo_production(binary, work, args.items, args.rows, args.keep)
    charts = charts_of(production)
    branch = env_name(LIST_BRANCH)
    staging = staging_copy(production, work, LIST_BRANCH)
    edit(staging, [c[0] for c in charts], FIRST_EDIT_AT, "Revised for the team review")
    sb.log(f"list: {len(charts):,} charts changed in {staging.name}")

    base_db = work / "chartgate-base.db"
    env = sb.chartgate_env(fresh_db(base_db), f"sqlite://{production}", f"sqlite://{work / 'staging'}/{{branch}}.db")
    r = register(binary, env, work, LIST_BRANCH, staging)
    m["list_register"] = r
    sb.log(f"list: branch add {r['wall']:.1f} s: {r['stdout'].strip()}")
    tokens = add_users(binary, env, work, [(LEAD, "lead"), (OLGA, "reviewer")] + [(e, "reviewer") for e in REVIEWERS])
    team_db = work / "chartgate-team.db"
    fresh_db(team_db)
    sb.sqlite_copy(base_db, team_db)
    (work / "team.toml").write_text(LIST_POLICY)
    team_env = dict(env, CHARTGATE_DATABASE_URL=f"sqlite://{team_db}", CHARTGATE_CONFIG=str(work / "team.toml"))
    # Informational: today's review, one person's decision on every item and no policy.
    one_db = work / "chartgate-one.db"
    fresh_db(one_db)
    sb.sqlite_copy(base_db, one_db)
    one_env = dict(env, CHARTGATE_DATABASE_URL=f"sqlite://{one_db}")

    items = items_of(base_db, branch)
    m["list_items"] = len(items)
    if len(items) != len(charts):
        notes.append(f"the list branch has {len(items)} items, {len(charts)} charts were changed")
    ids = [i[0] for i in items]

    servers = {}
    try:
        servers["team"] = sb.Server(binary, team_env, work, name="serve-team")
        team = sb.Api(servers["team"].port, tokens[REVIEWERS[0]])
        given = []
        for k, email in enumerate(REVIEWERS):
            api = sb.Api(servers["team"].port, tokens[email])
            if k < 2:
                plan = [("approved", ids)]
            else:  # tom rejects every tenth item
                plan = [("approved", [c for n, c in enumerate(ids) if n % 10]),
                        ("rejected", [c for n, c in enumerate(ids) if n % 10 == 0])]
            for status, chosen in plan:
                decided, refused, took = bulk(api, branch, status, chosen)
                given.append((email, status, decided, refused, took))
                sb.log(f"list: {email} {status} {decided:,} items ({refused} refused) in {took:.1f} s "
                       f"({decided / took:.0f}/s)")
                if refused or decided != len(chosen):
                    notes.append(f"{email}: {status} decided {decided} of {len(chosen)} ({refused} refused)")
            api.close()
        m["verdicts_given"] = given
        # What the policy makes of them: 10 % rejected (tom); GDP and CO2 charts pending (olga,
        # their owner, gives none); the rest approved.
        expect = {"approved": 0, "pending": 0, "rejected": 0}
        in_force: dict[str, list[str]] = {k: [] for k in expect}
        for n, (cid, slug) in enumerate(items):
            state = ("rejected" if n % 10 == 0 else
                     "pending" if slug.startswith(("gdp-per-capita-", "co2-emissions-")) else "approved")
            expect[state] += 1
            in_force[state].append(cid)
        gate, _, _ = team.request("GET", f"/api/v1/branches/{branch}/gate")
        got = {k: gate[k] for k in expect}
        m["list_gate"], m["list_expect"] = got, expect
        if got != expect:
            notes.append(f"MISMATCH: the team server's gate {got}, expected {expect}")
        page, _, _ = team.request("GET", f"/api/v1/branches/{branch}/diffs?per_page=500")
        wrong = [it["chart_id"] for it in page["items"]
                 if len(it["review"]["approvals"]) + len(it["review"]["rejections"]) != 3]
        if wrong:
            notes.append(f"MISMATCH: {len(wrong)} items of the team list's first page lack 3 current verdicts, "
                         f"e.g. {wrong[:3]}")
        m["list_sample"] = {k: page["items"][0]["review"].get(k) for k in ("required", "owners", "missing", "in_force")}
        team.close()

        # The same outcome as the team server's, from one person's decisions: the same items
        # approved, rejected and left pending (so `status=pending` finds the same share).
        servers["one"] = sb.Server(binary, one_env, work, name="serve-one")
        one = sb.Api(servers["one"].port, tokens[REVIEWERS[0]])
        for status in ("approved", "rejected"):
            decided, refused, took = bulk(one, branch, status, in_force[status])
            sb.log(f"list: one decision per item (no policy): {decided:,} {status} in {took:.1f} s")
            if refused or decided != len(in_force[status]):
                notes.append(f"one decision: {status} {decided} of {len(in_force[status])} ({refused} refused)")
        gate, _, _ = one.request("GET", f"/api/v1/branches/{branch}/gate")
        if {k: gate[k] for k in expect} != expect:
            notes.append(f"MISMATCH: the one-decision server's gate {gate}, expected {expect}")
        one.close()
        servers["base"] = sb.Server(binary, env, work, name="serve-base")
        lead = tokens[LEAD]
        paths = [f"/api/v1/branches/{branch}/diffs?{q}" for q in sb.READER_QUERIES]
        names = ("base", "team", "one")
        for name in names:  # warm-up: each query once (the totals are cached per revision)
            sequential(servers[name].port, lead, paths, len(paths))
        runs = {k: [] for k in names}
        seq = {k: [] for k in names}
        for rnd in range(args.rounds):
            order = names[rnd % 3:] + names[:rnd % 3]
            for name in order:
                load_now = os.getloadavg()[0]
                c = concurrent(servers[name].port, lead, paths, args.readers, args.reader_requests)
                c["load"] = load_now
                runs[name].append(c)
                s = sequential(servers[name].port, lead, paths, args.sequential * len(paths))
                seq[name].append(s)
                sb.log(f"list round {rnd + 1} {name} (load {load_now:.2f}): {c['n']} requests, {c['rps']:.0f}/s, server p50 "
                       f"{c['p50']:.1f} ms, p99 {c['p99']:.1f} ms (client p99 {c['client_p99']:.1f}); one reader "
                       f"`per_page=50` p50 {s['by_path']['per_page=50']:.2f} ms")
        m["list_runs"] = {k: over_rounds(v) for k, v in runs.items()}
        m["list_seq"] = {k: over_rounds(v) for k, v in seq.items()}
        for name, s in servers.items():
            m[f"rss_{name}"] = s.vm_hwm_kb()
    finally:
        for name, s in servers.items():
            said = s.stop()
            if not said.startswith("stopped"):
                notes.append(f"list server {name}: {said}")
    path = f"/api/v1/branches/{branch}/diffs?per_page=50"
    m["list_statements"] = {name: statement_times(binary, e, work, tokens[LEAD], path, 50, f"serve-{name}-log")
                            for name, e in (("base", env), ("one", one_env), ("team", team_env))}


def inbox_phase(binary: Path, work: Path, args, m: dict, notes: list[str]) -> None:
    production = demo_production(binary, work, args.inbox_charts, args.rows, args.keep)
    charts = charts_of(production)
    db = work / "chartgate-inbox.db"
    (work / "inbox.toml").write_text(INBOX_POLICY)
    env = sb.chartgate_env(fresh_db(db), f"sqlite://{production}", f"sqlite://{work / 'staging'}/{{branch}}.db")
    env["CHARTGATE_CONFIG"] = str(work / "inbox.toml")

    lo, hi = args.branch_items
    names, stores, reg = [], {}, []
    started = time.perf_counter()
    for b in range(args.branches):
        raw = INBOX_BRANCH.format(b)
        store = staging_copy(production, work, raw)
        count = lo + (b * 37) % (hi - lo + 1)
        chosen = sorted(c[0] for c in random.Random(b).sample(charts, min(count, len(charts))))
        edit(store, chosen, FIRST_EDIT_AT, f"Revised on {raw}")
        reg.append(register(binary, env, work, raw, store)["wall"])
        names.append(env_name(raw))
        stores[env_name(raw)] = store
    m["inbox_register"] = {"total_s": time.perf_counter() - started, "median_s": statistics.median(reg)}
    sb.log(f"inbox: {args.branches} branches registered in {m['inbox_register']['total_s']:.1f} s "
           f"(branch add median {m['inbox_register']['median_s']:.2f} s)")
    callers = [ME] + PEERS[:max(0, args.me_callers - 1)]
    tokens = add_users(binary, env, work, [(LEAD, "lead"), (ANA, "reviewer"), (SAM, "reviewer")]
                       + [(e, "reviewer") for e in callers])

    server = sb.Server(binary, env, work, name="serve-inbox")
    try:
        lead, me, sam = (sb.Api(server.port, tokens[e]) for e in (LEAD, ME, SAM))
        items = {b: items_of(db, b) for b in names}
        m["inbox_items"] = sum(len(v) for v in items.values())
        stale_branches = [b for n, b in enumerate(names) if n % 5 == 0]
        whole_branches = [b for n, b in enumerate(names) if n % 10 == 1]
        expected, expected_peer, stale_n, requests_n = 0, 0, 0, 0
        started = time.perf_counter()
        for n, b in enumerate(names):
            ids = [i[0] for i in items[b]]
            d, r, _ = bulk(sam, b, "approved", ids[:100])
            if r or d != len(ids[:100]):
                notes.append(f"{SAM} approved {d} of {len(ids[:100])} on {b} ({r} refused)")
            mine_current, mine_stale = set(), set()
            if b in stale_branches:
                d, r, _ = bulk(me, b, "approved", ids[:40])
                if r or d != len(ids[:40]):
                    notes.append(f"{ME} approved {d} of {len(ids[:40])} on {b} ({r} refused)")
                mine_stale, mine_current = set(ids[:20]), set(ids[20:40])
            lead.request("POST", f"/api/v1/branches/{b}/requests", body={"reviewers": callers, "chart_ids": ids[20:50]},
                         expect=(201,))
            requests_n += len(ids[20:50])
            requested = set(ids[20:50])
            if b in whole_branches:
                lead.request("POST", f"/api/v1/branches/{b}/requests", body={"reviewers": callers}, expect=(201,))
                requested = set(ids)
            expected_peer += len(requested)
            if mine_stale:
                edit(stores[b], sorted(mine_stale), SECOND_EDIT_AT, "Edited again after the approval")
                body, _, _ = lead.request("POST", f"/api/v1/branches/{b}/rescan", timeout=600)
                stale_n += len(mine_stale)
            owned = {c for c, slug in items[b] if owned_by_me(slug)}
            expected += len(((requested | owned) - mine_current) | mine_stale)
        m["inbox_setup_s"] = time.perf_counter() - started
        m["inbox_setup"] = {"requests": requests_n, "whole": len(whole_branches), "stale": stale_n,
                            "stale_branches": len(stale_branches),
                            "owned": sum(1 for v in items.values() for _, s in v if owned_by_me(s))}
        sb.log(f"inbox: set up in {m['inbox_setup_s']:.1f} s: {m['inbox_setup']}")

        body, _, _ = me.request("GET", "/api/v1/me/reviews")
        m["inbox_total"], m["inbox_expected"] = body["total"], expected
        m["inbox_page"] = len(body["items"])
        m["inbox_branches_on_page"] = len({it["branch"] for it in body["items"]})
        m["inbox_reasons"] = sorted({r.split(":")[0].split(" by ")[0] for it in body["items"] for r in it["reasons"]})
        if body["total"] != expected:
            notes.append(f"MISMATCH: /me/reviews total {body['total']}, expected {expected}")
        if len(callers) > 1:
            peer, _, _ = sb.Api(server.port, tokens[callers[1]]).request("GET", "/api/v1/me/reviews")
            m["inbox_peer_total"], m["inbox_peer_expected"] = peer["total"], expected_peer
            if peer["total"] != expected_peer:
                notes.append(f"MISMATCH: /me/reviews of {callers[1]}: total {peer['total']}, expected {expected_peer}")
        sb.log(f"inbox: /me/reviews total {body['total']} (expected {expected}); page of {len(body['items'])} "
               f"from {m['inbox_branches_on_page']} branches; reasons {m['inbox_reasons']}")

        me_paths = ["/api/v1/me/reviews"]
        ref_paths = [f"/api/v1/branches/{names[0]}/diffs"]
        for p in (me_paths, ref_paths):
            sequential(server.port, tokens[ME], p, 5)  # warm-up
        runs = {k: [] for k in ("me_seq", "ref_seq", "me_conc", "ref_conc")}
        m["inbox_load"] = []
        for rnd in range(args.rounds):
            m["inbox_load"].append(os.getloadavg()[0])
            runs["me_seq"].append(sequential(server.port, tokens[ME], me_paths, args.me_calls))
            runs["ref_seq"].append(sequential(server.port, tokens[ME], ref_paths, args.me_calls))
            per = max(1, args.me_calls // args.me_callers)
            runs["me_conc"].append(concurrent(server.port, [tokens[e] for e in callers], me_paths, len(callers), per))
            runs["ref_conc"].append(concurrent(server.port, tokens[ME], ref_paths, args.me_callers, per))
            sb.log(f"inbox round {rnd + 1}: /me/reviews sequential p50 {runs['me_seq'][-1]['p50']:.1f} / p99 "
                   f"{runs['me_seq'][-1]['p99']:.1f} ms, {args.me_callers} callers p50 "
                   f"{runs['me_conc'][-1]['p50']:.1f} / p99 {runs['me_conc'][-1]['p99']:.1f} ms; one branch's list "
                   f"p50 {runs['ref_seq'][-1]['p50']:.1f} / {runs['ref_conc'][-1]['p50']:.1f} ms")
        m["inbox_runs"] = {k: over_rounds(v) for k, v in runs.items()}
        m["rss_inbox"] = server.vm_hwm_kb()
        for a in (lead, me, sam):
            a.close()
    finally:
        said = server.stop()
        if not said.startswith("stopped"):
            notes.append(f"inbox server: {said}")
    m["explain"] = explain_me(db, ME)
    m["inbox_statements"] = statement_times(binary, env, work, tokens[ME], "/api/v1/me/reviews", 50,
                                            "serve-inbox-log")


# --- report -------------------------------------------------------------------------------------


def verdict(ok: bool, judged: bool) -> str:
    return ("PASS" if ok else "MISS") if judged else "n/a (--quick)"


def table(m: dict, args, judged: bool) -> list[list[str]]:
    rows = [["figure", "baseline", "team", "ratio / target", "result"]]
    b, t = m["list_runs"]["base"], m["list_runs"]["team"]
    ratio = t["p99"] / b["p99"]
    rows.append([
        f"diff list, {m['list_items']:,} items, {b['threads']} readers × {b['per_thread']}: p99 server time "
        f"(median of {args.rounds} rounds; baseline no policy and no verdict, team 3 verdicts per item)",
        f"{b['p99']:.1f} ms (rounds {fmt_rounds(b['rounds_p99'])}; p50 {b['p50']:.1f})",
        f"{t['p99']:.1f} ms (rounds {fmt_rounds(t['rounds_p99'])}; p50 {t['p50']:.1f})",
        f"{ratio:.2f}× (≤ {TARGET_LIST_RATIO}×)", verdict(ratio <= TARGET_LIST_RATIO, judged)])
    o = m["list_runs"]["one"]
    rows.append([
        "the same, informational: baseline column no policy and one person's decision per item, the team "
        "server's outcome (today's review: the same items approved, rejected, pending)",
        f"{o['p99']:.1f} ms (rounds {fmt_rounds(o['rounds_p99'])}; p50 {o['p50']:.1f})",
        f"{t['p99']:.1f} ms", f"{t['p99'] / o['p99']:.2f}× (informational; one decision / baseline "
        f"{o['p99'] / b['p99']:.2f}×)", "—"])
    bs, ts = m["list_seq"]["base"]["by_path"]["per_page=50"], m["list_seq"]["team"]["by_path"]["per_page=50"]
    rows.append([
        f"diff list `per_page=50`, one reader × {args.sequential}: p50 server time (median of {args.rounds} rounds)",
        f"{bs:.2f} ms", f"{ts:.2f} ms", f"{ts / bs:.2f}× (informational)", "—"])
    r = m["inbox_runs"]
    for key, ref, what in (("me_seq", "ref_seq", f"{r['me_seq']['n']} sequential calls"),
                           ("me_conc", "ref_conc",
                            f"{r['me_conc']['threads']} concurrent callers (each another reviewer) × {r['me_conc']['per_thread']}")):
        me, rf = r[key], r[ref]
        ok = me["p50"] <= TARGET_ME_MS and me["p99"] <= TARGET_ME_MS
        rows.append([
            f"`GET /me/reviews`, {args.branches} open branches ({m['inbox_items']:,} items, {m['inbox_total']:,} "
            f"waiting), {what}: p50 / p99 server time (median of {args.rounds} rounds); baseline: one branch's "
            f"diff list read the same way",
            f"{rf['p50']:.1f} / {rf['p99']:.1f} ms",
            f"{me['p50']:.1f} / {me['p99']:.1f} ms (rounds p99 {fmt_rounds(me['rounds_p99'])})",
            f"≤ {TARGET_ME_MS:g} ms", verdict(ok, judged)])
    rows.append(["peak RSS of the servers (VmHWM)",
                 f"list {m['rss_base'] / 1024:.0f} MB (one decision: {m['rss_one'] / 1024:.0f} MB)",
                 f"list {m['rss_team'] / 1024:.0f} MB; inbox {m['rss_inbox'] / 1024:.0f} MB", "—", "—"])
    peer = m.get("inbox_peer_total") == m.get("inbox_peer_expected")
    rows.append(["checks: the team list's gate counts; /me/reviews' total (the caller's; another caller's)",
                 f"expected {m['list_expect']}; {m['inbox_expected']:,}; {m.get('inbox_peer_expected', '—')}",
                 f"{m['list_gate']}; {m['inbox_total']:,}; {m.get('inbox_peer_total', '—')}", "=",
                 "PASS" if m["list_gate"] == m["list_expect"] and m["inbox_total"] == m["inbox_expected"] and peer
                 else "MISMATCH"])
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run (nothing judged)")
    ap.add_argument("--items", type=int, help=f"items of the list's branch ({FULL_ITEMS:,}; quick 2,000)")
    ap.add_argument("--rows", type=int, default=20, help="data rows per chart (the list reads no content)")
    ap.add_argument("--readers", type=int, default=32)
    ap.add_argument("--reader-requests", type=int, help="requests per reader (40; quick 10)")
    ap.add_argument("--sequential", type=int, help="one-reader requests per server and round (50; quick 10)")
    ap.add_argument("--branches", type=int, help=f"open branches for /me/reviews ({FULL_BRANCHES}; quick 6)")
    ap.add_argument("--inbox-charts", type=int, help="charts of the /me/reviews production (1,500; quick 300)")
    ap.add_argument("--me-calls", type=int, help="sequential /me/reviews calls per round (200; quick 40)")
    ap.add_argument("--me-callers", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep bench/out/team-*/ and reuse its production stores")
    ap.add_argument("--binary", type=Path, default=sb.ROOT / "target" / "release" / "chartgate")
    args = ap.parse_args()
    q = args.quick
    args.items = args.items or (2_000 if q else FULL_ITEMS)
    args.reader_requests = args.reader_requests or (10 if q else 40)
    args.sequential = args.sequential or (10 if q else 50)
    args.branches = args.branches or (6 if q else FULL_BRANCHES)
    args.inbox_charts = args.inbox_charts or (300 if q else 1_500)
    args.me_calls = args.me_calls or (40 if q else 200)
    args.branch_items = (50, 100) if q else (200, 400)
    judged = args.items >= FULL_ITEMS and args.branches >= FULL_BRANCHES and not q

    binary = args.binary.resolve()
    if not binary.exists():
        raise sb.BenchError(f"{binary} is missing: cargo build --release -p chartgate-server --bin chartgate")
    binary_mtime = binary.stat().st_mtime
    load = os.getloadavg()
    neighbours = sb.busy_neighbours()
    sb.log(f"binary {binary} (built {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(binary_mtime))}); "
           f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    tag = "quick" if q else f"{args.items}"
    list_work, inbox_work = sb.OUT / f"team-list-{tag}", sb.OUT / f"team-inbox-{tag}"
    m: dict = {}
    notes: list[str] = []
    list_phase(binary, list_work, args, m, notes)
    inbox_phase(binary, inbox_work, args, m, notes)
    load_end = os.getloadavg()
    neighbours = sorted(set(neighbours) | set(sb.busy_neighbours()))
    if neighbours:
        notes.append(f"compilers were running beside the benchmark (at start or end): {', '.join(neighbours[:6])}"
                     f"{' …' if len(neighbours) > 6 else ''}")
    if binary.stat().st_mtime != binary_mtime:
        notes.append("THE BINARY CHANGED DURING THE RUN: rerun")

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=sb.ROOT, capture_output=True,
                                text=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=sb.ROOT,
                                    capture_output=True, text=True).stdout.strip())
    except OSError:
        commit, dirty = "?", False
    cmd = " ".join(["python3 bench/team_review.py"] + sys.argv[1:])
    md = sb.markdown(table(m, args, judged))
    lr = m["list_register"]
    e = m["explain"]
    details = [
        f"- command: `{cmd}`; {time.strftime('%Y-%m-%d %H:%M')}; {platform.node()}, {os.cpu_count()} CPUs; load "
        f"average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, at end {load_end[0]:.2f}; commit {commit}"
        f"{' with uncommitted changes' if dirty else ''}; binary built "
        f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(binary_mtime))}",
        f"- list: `chartgate demo --charts {args.items} --rows {args.rows}`'s production, every chart changed in a "
        f"copy (config, data, metadata by turns); `branch add` {lr['wall']:.1f} s, max RSS "
        f"{lr['max_rss_kb'] / 1024:.0f} MB: {lr['stdout'].strip()}",
        "- list verdicts (`POST /reviews/bulk`, 1,000 ids a call, on the team server): " + "; ".join(
            f"{e_} {s} {d:,} in {t:.1f} s" for e_, s, d, _, t in m["verdicts_given"])
        + f"; team gate {m['list_gate']} (expected {m['list_expect']}); first item's review {json.dumps(m['list_sample'])}",
        "- list readers' requests/s per round (load average at its start): " + "; ".join(
            f"{k} " + ", ".join(f"{x:.0f} ({ld:.1f})" for x, ld in zip(v["rps"], v["load"]))
            for k, v in m["list_runs"].items())
        + "; client p99 (median of rounds): " + ", ".join(
            f"{k} {v['client_p99']:.1f} ms" for k, v in m["list_runs"].items()),
        "- list, p50 server time per query, baseline / one decision / team (median of rounds): one reader " + ", ".join(
            f"`{q}` " + " / ".join(f"{m['list_seq'][k]['by_path'][q]:.2f}" for k in ("base", "one", "team")) + " ms"
            for q in m["list_seq"]["base"]["by_path"]) + f"; {args.readers} readers " + ", ".join(
            f"`{q}` " + " / ".join(f"{m['list_runs'][k]['by_path'][q]:.1f}" for k in ("base", "one", "team")) + " ms"
            for q in m["list_runs"]["base"]["by_path"]),
        f"- inbox: `chartgate demo --charts {args.inbox_charts} --rows {args.rows}`'s production; {args.branches} "
        f"branches of {args.branch_items[0]}-{args.branch_items[1]} changed charts ({m['inbox_items']:,} items), "
        f"registered in {m['inbox_register']['total_s']:.1f} s; set-up {m['inbox_setup']} in "
        f"{m['inbox_setup_s']:.1f} s; `/me/reviews` total {m['inbox_total']:,} (expected {m['inbox_expected']:,}; "
        f"another caller's {m.get('inbox_peer_total', '—')}, expected {m.get('inbox_peer_expected', '—')}), "
        f"first page from {m['inbox_branches_on_page']} branches, reasons {m['inbox_reasons']}",
        "- `/me/reviews` p50 / p99 per round (load average at the rounds' start "
        + ", ".join(f"{x:.1f}" for x in m["inbox_load"]) + "): " + "; ".join(
            f"{k} {', '.join(f'{a:.1f}/{b_:.1f}' for a, b_ in zip(v['rounds_p50'], v['rounds_p99']))} ms"
            for k, v in m["inbox_runs"].items()),
        f"- \"waiting on me\" in Python's sqlite3 on the inbox database (median of 5): count {e['count']['ms']:.1f} ms "
        f"({e['count']['result']}), first page {e['page']['ms']:.1f} ms; plans: count "
        f"{' / '.join(e['count']['plan'])}; page {' / '.join(e['page']['plan'])}",
        *(f"- where the time goes, diff list `per_page=50` on the {k} server (sqlx's statement log, a server "
          f"of its own after the rounds, 50 requests): {fmt_statements(v)}" for k, v in m["list_statements"].items()),
        f"- where the time goes, `/me/reviews` (the same way): {fmt_statements(m['inbox_statements'], 6)}",
        *(f"- NOTE: {n}" for n in notes),
    ]
    text = md + "\n\n" + "\n".join(details) + "\n"
    print()
    print(text)
    sb.OUT.mkdir(parents=True, exist_ok=True)
    out = sb.OUT / ("team-review-quick.md" if q else "team-review.md")
    out.write_text("# Team review benchmark\n\n" + text)
    sb.log(f"wrote {out}")
    if not args.keep:
        for w in (list_work, inbox_work):
            shutil.rmtree(w, ignore_errors=True)
    return 1 if any(n.startswith("MISMATCH") for n in notes) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except sb.BenchError as e:
        print(f"\nBENCHMARK FAILED: {e}", file=sys.stderr)
        sys.exit(2)
