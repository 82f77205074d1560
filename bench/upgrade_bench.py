#!/usr/bin/env python3
"""Benchmark the dataset upgrader (design §9) against the real binary.

    python3 bench/upgrade_bench.py [--charts 20000] [--using 2000] [--indicators 20] [--debug] [--keep]

Writes a production store of `--charts` charts (standard library sqlite3; not timed), `--using`
of which draw indicators of dataset `bench/2025-01-01`, and a staging copy that also holds
`bench/2026-01-01` (half the indicators keep their names, the others are renamed). Registers the
branch (`chartgate branch add`), starts `chartgate serve`, then times over HTTP:

  * preview  `POST /api/v1/branches/bench/upgrades/preview`   target <= 1 s
  * apply    `POST /api/v1/branches/bench/upgrades` (writes every chart, then rescans)
                                                                target <= 5 s

and prints a table (client wall time and the server's own Server-Timing). Uses the release
binary (`scripts/build.sh --release` or `cargo build --release --bin chartgate`) unless
`--debug`. Standard library only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scan_bench as sb  # noqa: E402  (process helpers: Server, env, run_quick)

OLD, NEW = "bench/2025-01-01", "bench/2026-01-01"
BRANCH = "bench"
TARGET_PREVIEW_S = 1.0
TARGET_APPLY_S = 5.0
ENTITIES = ["France", "India", "Brazil", "Kenya", "Japan", "Peru", "Chad", "Chile"]
YEARS = range(1990, 2020)


def rows(seed: int, scale: float = 1.0) -> list[dict]:
    r = random.Random(seed)
    return [
        {"entity": e, "time": y, "value": round(r.uniform(1, 100) * scale, 2)}
        for e in ENTITIES
        for y in YEARS
    ]


def names(n: int) -> tuple[list[str], list[str]]:
    topics = ["GDP per capita", "Life expectancy", "CO2 emissions", "Population", "Literacy rate",
              "Child mortality", "Electricity access", "Forest area", "Solar capacity", "Coal use"]
    old, new = [], []
    for i in range(n):
        base = f"{topics[i % len(topics)]} series {i}"
        old.append(f"{base} (constant 2017 US$)")
        new.append(f"{base} (constant 2017 US$)" if i % 2 == 0 else f"{base} (constant 2021 US$)")
    return old, new


def write_stores(work: Path, charts: int, using: int, indicators: int) -> tuple[Path, Path]:
    prod, stage = work / "production.db", work / "staging" / "bench.db"
    stage.parent.mkdir(parents=True, exist_ok=True)
    for p in (prod, stage):
        if p.exists():
            p.unlink()
    old_names, new_names = names(indicators)
    old_ids = [f"{OLD}/ind_{i}" for i in range(indicators)]
    new_ids = [f"{NEW}/ind_{i}_v2" for i in range(indicators)]
    old_rows = [rows(i) for i in range(indicators)]
    con = sqlite3.connect(prod)
    con.execute("create table charts (id text primary key, slug text not null unique, config text not null,"
                " data text not null, metadata text not null, updated_at text not null)")
    con.execute("create table indicators (id text primary key, dataset text not null, name text not null,"
                " unit text, rows text not null, updated_at text not null)")
    stamp = "2025-06-01T00:00:00Z"
    batch = []
    for c in range(charts):
        if c < using:
            k = c % indicators
            dims = [{"property": "y", "indicator": old_ids[k]}]
            data = [dict(r, series=old_ids[k]) for r in old_rows[k]]
        else:
            dims = None
            data = rows(10_000 + c)
        config = {"type": "line", "title": f"Chart {c}", "yAxis": {"min": 0}}
        if dims:
            config["dimensions"] = dims
        batch.append((f"chart-{c:06d}", f"chart-{c}", json.dumps(config), json.dumps({"rows": data}),
                      json.dumps({"unit": "%", "source": "bench"}), stamp))
    con.executemany("insert into charts values (?, ?, ?, ?, ?, ?)", batch)
    con.executemany("insert into indicators values (?, ?, ?, ?, ?, ?)",
                    [(old_ids[i], OLD, old_names[i], None, json.dumps(old_rows[i]), stamp) for i in range(indicators)])
    con.commit()
    con.close()
    shutil.copy(prod, stage)
    con = sqlite3.connect(stage)
    con.executemany("insert into indicators values (?, ?, ?, ?, ?, ?)",
                    [(new_ids[i], NEW, new_names[i], None, json.dumps(rows(i, 1.02)), stamp) for i in range(indicators)])
    con.commit()
    con.close()
    return prod, stage


def post(port: int, token: str, path: str, body: dict, timeout: float = 300):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    data = json.dumps(body).encode()
    started = time.perf_counter()
    conn.request("POST", path, body=data, headers={"Authorization": f"Bearer {token}",
                                                   "Content-Type": "application/json"})
    resp = conn.getresponse()
    payload = resp.read()
    wall = time.perf_counter() - started
    if resp.status not in (200, 201):
        raise sb.BenchError(f"POST {path}: HTTP {resp.status}: {payload[:500]!r}")
    timing = resp.getheader("server-timing") or ""
    server = float(timing.split("dur=")[1]) / 1000 if "dur=" in timing else None
    return json.loads(payload), wall, server


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--charts", type=int, default=20_000)
    ap.add_argument("--using", type=int, default=2_000)
    ap.add_argument("--indicators", type=int, default=20)
    ap.add_argument("--debug", action="store_true", help="use target/debug/chartgate")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    mode = "debug" if args.debug else "release"
    binary = sb.ROOT / "target" / mode / "chartgate"
    if not binary.exists():
        print(f"missing {binary}: build it first (scripts/build.sh{'' if args.debug else ' --release'})", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="chartgate-upgrade-bench."))
    env = sb.work_env(work)
    env["RUST_LOG"] = "warn,chartgate::upgrades=info"  # the server logs each upgrade's phases
    server = None
    try:
        sb.log(f"writing {args.charts} charts ({args.using} drawing {OLD}) in {work}")
        _, stage = write_stores(work, args.charts, args.using, args.indicators)
        sb.log("registering the branch (full scan)")
        sb.run_quick([str(binary), "branch", "add", BRANCH, "--store", f"sqlite://{stage}"], env=env, cwd=work,
                     name="branch-add", timeout=600)
        sb.run_quick([str(binary), "users", "add", sb.USER, "--role", "lead"], env=env, cwd=work, name="user")
        token = sb.run_quick([str(binary), "tokens", "create", sb.USER], env=env, cwd=work,
                             name="token").strip().splitlines()[-1]
        server = sb.Server(binary, env, work)
        base = f"/api/v1/branches/{BRANCH}/upgrades"
        preview, p_wall, p_server = post(server.port, token, f"{base}/preview", {"from": OLD, "to": NEW})
        mapping = {p["old"]: p["new"] for p in preview["pairs"]}
        matched = sum(1 for v in mapping.values() if v)
        result, a_wall, a_server = post(server.port, token, base, {"from": OLD, "to": NEW, "mapping": mapping})
        updated = sum(1 for c in result["charts"] if c["outcome"] == "updated")
        rows_ = [
            ["step", "client wall", "server", "target", "verdict", "detail"],
            ["preview", f"{p_wall:.3f} s", f"{p_server:.3f} s" if p_server else "-", f"<= {TARGET_PREVIEW_S:.0f} s",
             "PASS" if p_wall <= TARGET_PREVIEW_S else "MISS",
             f"{len(preview['charts'])} charts, {matched}/{len(preview['pairs'])} matched"],
            ["apply + rescan", f"{a_wall:.3f} s", f"{a_server:.3f} s" if a_server else "-",
             f"<= {TARGET_APPLY_S:.0f} s", "PASS" if a_wall <= TARGET_APPLY_S else "MISS",
             f"{updated} charts updated"],
        ]
        widths = [max(len(r[i]) for r in rows_) for i in range(len(rows_[0]))]
        print(f"\nupgrade bench ({mode} build): {args.charts} charts, {args.using} drawing {args.indicators} "
              f"indicators of {OLD}")
        for r in rows_:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
        if updated != args.using:
            print(f"expected {args.using} updated charts, got {updated}", file=sys.stderr)
            return 1
        return 0
    except sb.BenchError as e:
        print(f"bench failed: {e}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
