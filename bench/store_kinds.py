#!/usr/bin/env python3
"""Issue 21's figures: Chartgate on MariaDB (§3's table), on a grapher-style mapped schema on
MariaDB, and on a file store, against SQLite in the same run.

    python3 bench/store_kinds.py [--charts 20000] [--rows 350] [--kinds sqlite,mysql,mysql-mapped,files] [--keep]

Every kind holds the same charts: the SQLite stores `chartgate demo` writes (as bench/scan_bench.py
makes them, not timed) are loaded into MariaDB, filled from there into the grapher-style tables
with SQL, and written out as one `<id>.json` per chart. For each kind, against the real release
binary and with Chartgate's own database on SQLite: cold registration (`chartgate branch add`,
median of 3), a warm full rescan (`POST /rescan?full=true`, median of 3), rescans after a write
that moves no chart (median of 5) — taken round-robin, every kind once per round, so a shared
machine's load falls on all kinds alike — then a sync of 1,000 approved charts per kind
(bench/scan_bench.py's sync phase, on copies). Prints a table with each figure's ratio to SQLite's
and PASS/MISS against the targets (MariaDB kinds ≤ 2× SQLite, files ≤ 1.5×); also written to
bench/out/results-kinds-<charts>.md (`-partial` with --kinds or --no-sync).
Exit status: 0 when every kind agrees with SQLite (items, sync result), 1 on a mismatch, 2 when a
kind failed. Standard library only; the MariaDB kinds need the `mysql` client.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mystores  # noqa: E402
import scan_bench as sb  # noqa: E402
from scan_bench import BRANCH, ENV_NAME, USER, BenchError, log  # noqa: E402

KINDS = ("sqlite", "mysql", "mysql-mapped", "files")
TARGET_RATIO = {"mysql": 2.0, "mysql-mapped": 2.0, "files": 1.5}
LABEL = {"sqlite": "SQLite", "mysql": "MariaDB, §3 table", "mysql-mapped": "MariaDB, grapher mapping",
         "files": "files"}

# docs/stores.md, "A grapher-style schema on MySQL": the tables and the mapping, verbatim.
GRAPHER_TABLES = """
create table chart_configs (id varchar(64) primary key, slug varchar(191) not null unique, full_json longtext not null);
create table charts (id int primary key, config_id varchar(64) not null, last_edited_at varchar(64) not null);
create table chart_data (chart_id int primary key, rows_json longtext not null, meta_json longtext not null);
"""
GRAPHER_MAPPING = '''[mappings.grapher]
stamps = "select c.id as id, c.last_edited_at as updated_at from charts c"
read = """
select c.id as id, cc.slug as slug, cc.full_json as config, d.rows_json as data,
       d.meta_json as metadata, c.last_edited_at as updated_at
from charts c
join chart_configs cc on cc.id = c.config_id
join chart_data d on d.chart_id = c.id
where c.id in ({ids})"""
update = [
  "update chart_configs set slug = :slug, full_json = :config where id = :id",
  "update chart_data set rows_json = :data, meta_json = :metadata where chart_id = :id",
  "update charts set last_edited_at = :updated_at where id = :id",
]
insert = [
  "insert into chart_configs (id, slug, full_json) values (:id, :slug, :config)",
  "insert into charts (id, config_id, last_edited_at) values (:id, :id, :updated_at)",
  "insert into chart_data (chart_id, rows_json, meta_json) values (:id, :data, :metadata)",
]
delete = [
  "delete from chart_data where chart_id = :id",
  "delete from charts where id = :id",
  "delete from chart_configs where id = :id",
]
chart_type = "/chartTypes/0"
chart_types = { LineChart = "line", DiscreteBar = "bar", ScatterPlot = "scatter" }
default_type = "line"
title = "/title"
'''
# The demo's ids as the grapher tables' integer ids: chart-00042 → 42, chart-new-0003 → 1000003,
# wdi-chart-07 → 2000007 (first matching prefix; in Python and in the SQL that fills the tables).
ID_PREFIXES = (("chart-new-", 1_000_000), ("wdi-chart-", 2_000_000), ("chart-", 0))
GRAPHER_ID_SQL = ("case " + " ".join(f"when id like '{p}%' then {base} + cast(substring(id, {len(p) + 1}) as unsigned)"
                                     for p, base in ID_PREFIXES) + " end")
GRAPHER_TABLE_NAMES = ["chart_configs", "charts", "chart_data"]

# A write that moves no chart, per kind (bench/scan_bench.py's NOOP_UPDATE for §3's table).
GRAPHER_NOOP = "update charts set last_edited_at = last_edited_at where id = (select min(id) from charts)"


def db_of(url: str) -> str:
    return url.rsplit("/", 1)[1].split("?", 1)[0]


class Kind(sb.Stores):
    """What the kinds here share: Chartgate's own database is a SQLite file per kind in the work dir
    (only the chart stores differ between kinds), and RUST_LOG may be raised for all of them."""

    kind = ""
    rust_log: str | None = None
    config_file: Path | None = None

    def env(self, database_url: str, production_url: str, staging_template: str) -> dict[str, str]:
        env = sb.chartgate_env(database_url, production_url, staging_template)
        if self.rust_log:
            env["RUST_LOG"] = self.rust_log
        if self.config_file:
            env["CHARTGATE_CONFIG"] = str(self.config_file)
        return env

    def fresh_chartgate_db(self, tag: str) -> str:
        return sb.SqliteStores.fresh_chartgate_db(self, f"{self.kind}-{tag}")

    def preparable(self) -> bool:
        """Whether `chartgate store prepare` applies (§3's table on an engine)."""
        return False

    def originals(self) -> dict[str, Path]:
        """The SQLite stores this kind's stores are made from."""
        return {"production": self.work / "production.db", "staging": self.work / "staging" / f"{ENV_NAME}.db"}

    def made_from_these(self, marker: Path) -> bool:
        """Whether `marker` says the stores were made from the SQLite originals as they are now."""
        try:
            return json.loads(marker.read_text()) == self._stamp()
        except (OSError, ValueError):
            return False

    def mark_made(self, marker: Path) -> None:
        marker.write_text(json.dumps(self._stamp()))

    def _stamp(self) -> dict:
        # The generation's marker (bench/scan_bench.py `generate`): the SQLite kind's own no-op
        # writes change the originals' files, not their charts.
        marker = self.work / "stores.json"
        return {"generated": [marker.read_text(), marker.stat().st_mtime_ns]}


class SqliteKind(Kind, sb.SqliteStores):
    kind, label = "sqlite", "SQLite"

    def preparable(self) -> bool:
        return True


class MysqlKind(Kind):
    """§3's `charts` table on MariaDB, loaded from the SQLite stores."""

    kind, label = "mysql", "MariaDB"

    def __init__(self, work: Path, my: mystores.My, charts: int, rows: int, prefix: str = "cgbench"):
        self.work, self.my = work, my
        sfx = f"{charts}" if rows == sb.TARGET_AT_ROWS else f"{charts}_{rows}"
        self.db = {side: f"{prefix}_{short}_{sfx}" for side, short in (
            ("production", "prod"), ("staging", "stg"), ("sync_production", "sync_prod"), ("sync_staging", "sync_stg"))}
        self.production_url, self.staging_url = self.url(self.db["production"]), self.url(self.db["staging"])
        self.template = self.url(f"{self.db['staging']}_{{branch}}")
        self.marker = work / f"{prefix}-stores.json"

    def url(self, db: str) -> str:
        return self.my.url(db)

    def preparable(self) -> bool:
        return True

    def loaded(self, tables: list[str]) -> bool:
        """Both stores are there, made from the SQLite originals as they are (a kept copy)."""
        if not self.made_from_these(self.marker):
            return False
        want = {side: len(sb._ids(path)) for side, path in self.originals().items()}
        try:
            return all(self.my.exists(self.db[s]) and all(self.my.count(self.db[s], t) == want[s] for t in tables)
                       for s in want)
        except mystores.MyError:
            return False

    def prepare(self) -> dict:
        if self.loaded(["charts"]):
            log(f"reusing MariaDB stores {self.db['production']}, {self.db['staging']} (load skipped)")
            return {"load_s": None}
        started = time.perf_counter()
        for side, path in self.originals().items():
            log(f"loading {path.name} into MariaDB database {self.db[side]} (not timed)")
            self.my.load_store(path, self.db[side], self.work)
        self.mark_made(self.marker)
        took = time.perf_counter() - started
        log(f"loaded in {took:.1f} s")
        return {"load_s": took}

    def _noop(self) -> str:
        return sb.NOOP_UPDATE

    def touch(self) -> None:
        for side in ("staging", "production"):
            self.my.run(self.db[side], self._noop())

    def _tables(self) -> list[str]:
        return ["charts"]

    def sync_copies(self, scratch: Path) -> tuple[str, str, str]:
        scratch.mkdir(parents=True, exist_ok=True)
        for side in ("production", "staging"):
            self.my.copy_tables(self.db[side], self.db[f"sync_{side}"], self._tables())
        return (self.url(self.db["sync_production"]), self.url(self.db["sync_staging"]),
                self.url(self.db["sync_staging"] + "_{branch}"))

    def _select(self, ids: list[str]) -> str:
        return (f"select {', '.join(f'hex({c})' for c in mystores.COLUMNS)} from charts "
                f"where id in ({mystores.in_list(ids)})")

    def rows(self, url: str, ids: list[str]) -> dict[str, tuple]:
        back = {self.chart_id(c): c for c in ids}
        out = {}
        for i in range(0, len(ids), 200):
            for r in self.my.select_hex(db_of(url), self._select([self.chart_id(c) for c in ids[i:i + 200]])):
                out[back[r[0]]] = tuple(r[1:])
        return out

    def _edit(self, cid: str, config: str, at: str) -> str:
        return (f"update charts set config = {mystores.text_literal(config)}, "
                f"updated_at = {mystores.text_literal(at)} where id = {mystores.text_literal(cid)};\n")

    def edit(self, url: str, edits: list[tuple[str, str, str]], scratch: Path) -> None:
        self.my.run(db_of(url), "start transaction;\n" + "".join(self._edit(*e) for e in edits) + "commit;\n")

    def cleanup(self, keep: bool) -> None:
        dbs = [d for k, d in self.db.items() if not (keep and k in ("production", "staging"))]
        for db in dbs:
            try:
                self.my.drop(db)
            except mystores.MyError as e:
                log(f"could not drop {db}: {e}")
        log(f"dropped MariaDB databases {', '.join(dbs)}" + (" (kept the stores)" if keep else ""))


class MappedKind(MysqlKind):
    """docs/stores.md's grapher-style schema on MariaDB, read through `?mapping=grapher`; filled with
    SQL from the §3 tables of the `mysql` kind (loaded first when they are not there)."""

    kind, label = "mysql-mapped", "MariaDB, grapher mapping"

    def __init__(self, work: Path, my: mystores.My, charts: int, rows: int, source: MysqlKind):
        super().__init__(work, my, charts, rows, prefix="cgbench_map")
        self.source = source
        self.config_file = work / "grapher-mapping.toml"

    def url(self, db: str) -> str:
        return self.my.url(db, "?mapping=grapher")

    def preparable(self) -> bool:
        return False  # a mapped store's schema is its owner's: `store prepare` refuses it

    def chart_id(self, original: str) -> str:
        for prefix, base in ID_PREFIXES:
            if original.startswith(prefix) and re.fullmatch(r"\d+", original[len(prefix):]):
                return str(base + int(original[len(prefix):]))
        raise BenchError(f"mysql-mapped: the demo id {original!r} has no integer id in the grapher tables")

    def prepare(self) -> dict:
        self.config_file.write_text(GRAPHER_MAPPING)
        if self.loaded(GRAPHER_TABLE_NAMES):
            log(f"reusing grapher-style stores {self.db['production']}, {self.db['staging']} (fill skipped)")
            return {"load_s": None}
        for side, path in self.originals().items():
            ids = [i for i, in sb._ids(path)]
            if len({self.chart_id(i) for i in ids}) != len(ids):
                raise BenchError(f"mysql-mapped: two demo ids of {path.name} share an integer id")
        took = self.source.prepare()["load_s"] or 0.0
        started = time.perf_counter()
        for side in ("production", "staging"):
            src, db = self.source.db[side], self.db[side]
            log(f"filling grapher-style tables in {db} from {src}.charts with SQL (not timed)")
            self.my.create(db)
            self.my.run(db, GRAPHER_TABLES + f"""
insert into chart_configs (id, slug, full_json) select cast({GRAPHER_ID_SQL} as char), slug, config from `{src}`.charts;
insert into charts (id, config_id, last_edited_at) select {GRAPHER_ID_SQL}, cast({GRAPHER_ID_SQL} as char), updated_at from `{src}`.charts;
insert into chart_data (chart_id, rows_json, meta_json) select {GRAPHER_ID_SQL}, data, metadata from `{src}`.charts;
analyze table chart_configs, charts, chart_data;
""")
        self.mark_made(self.marker)
        took += time.perf_counter() - started
        log(f"filled in {time.perf_counter() - started:.1f} s")
        return {"load_s": took}

    def _noop(self) -> str:
        return GRAPHER_NOOP

    def _tables(self) -> list[str]:
        return GRAPHER_TABLE_NAMES

    def _select(self, ids: list[str]) -> str:
        return ("select hex(cast(c.id as char)), hex(cc.slug), hex(cc.full_json), hex(d.rows_json), "
                "hex(d.meta_json), hex(c.last_edited_at) from charts c "
                "join chart_configs cc on cc.id = c.config_id join chart_data d on d.chart_id = c.id "
                f"where c.id in ({','.join(ids)})")

    def _edit(self, cid: str, config: str, at: str) -> str:
        num = self.chart_id(cid)
        return (f"update chart_configs set full_json = {mystores.text_literal(config)} where id = '{num}';\n"
                f"update charts set last_edited_at = {mystores.text_literal(at)} where id = {num};\n")


def document(slug: str, config: str, data: str, metadata: str) -> str:
    """A chart file as Chartgate writes one (server/src/charts/store/files.rs `document_of`)."""
    return (f"{{\n  \"slug\": {json.dumps(slug, ensure_ascii=False)},\n  \"config\": {config},\n"
            f"  \"data\": {data},\n  \"metadata\": {metadata}\n}}\n")


class FilesKind(Kind):
    """`file://DIR` stores, one `<id>.json` per chart, written from the SQLite stores."""

    kind, label = "files", "files"

    def __init__(self, work: Path):
        self.work = work
        self.root = work / "files"
        self.production_dir, self.staging_dir = self.root / "production", self.root / "staging" / ENV_NAME
        self.production_url, self.staging_url = f"file://{self.production_dir}", f"file://{self.staging_dir}"
        self.template = f"file://{self.root / 'staging'}/{{branch}}"
        self.marker = work / "files-stores.json"

    def prepare(self) -> dict:
        if self.made_from_these(self.marker) and self.production_dir.is_dir() and self.staging_dir.is_dir():
            log(f"reusing chart files in {self.root} (writing skipped)")
            return {"load_s": None}
        shutil.rmtree(self.root, ignore_errors=True)
        started = time.perf_counter()
        sources = self.originals()
        for d, src in ((self.production_dir, sources["production"]), (self.staging_dir, sources["staging"])):
            log(f"writing {src.name} as chart files in {d} (not timed)")
            d.mkdir(parents=True)
            ids = [i for i, in sb._ids(src)]
            for i in range(0, len(ids), 500):
                for cid, (slug, config, data, metadata, _) in sb.sqlite_rows(src, ids[i:i + 500]).items():
                    (d / f"{cid}.json").write_text(document(slug, config, data, metadata), encoding="utf-8")
        self.mark_made(self.marker)
        took = time.perf_counter() - started
        log(f"written in {took:.1f} s")
        return {"load_s": took}

    def touch(self) -> None:
        # A write that moves no chart (nor any chart's stamp): a file that is not a chart changes
        # in each directory, as a checkout's other files do. The directory's mtime moves.
        for d in (self.staging_dir, self.production_dir):
            (d / "NOTES.md").write_text(f"touched {time.time_ns()}\n")

    def sync_copies(self, scratch: Path) -> tuple[str, str, str]:
        prod, stg = scratch / "files" / "production", scratch / "files" / "staging" / ENV_NAME
        for src, dst in ((self.production_dir, prod), (self.staging_dir, stg)):
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".*"))
        return f"file://{prod}", f"file://{stg}", f"file://{scratch / 'files' / 'staging'}/{{branch}}"

    def rows(self, url: str, ids: list[str]) -> dict[str, tuple]:
        out, d = {}, Path(url.removeprefix("file://"))
        for cid in ids:
            try:
                doc = json.loads((d / f"{cid}.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            parts = (json.dumps(doc[k], ensure_ascii=False, separators=(",", ":")) for k in ("config", "data", "metadata"))
            out[cid] = (doc["slug"], *parts, "")
        return out

    def edit(self, url: str, edits: list[tuple[str, str, str]], scratch: Path) -> None:
        d = Path(url.removeprefix("file://"))
        originals = sb.sqlite_rows(self.work / "staging" / f"{ENV_NAME}.db", [e[0] for e in edits])
        for cid, config, _ in edits:
            slug, _, data, metadata, _ = originals[cid]
            (d / f"{cid}.json").write_text(document(slug, config, data, metadata), encoding="utf-8")

    def cleanup(self, keep: bool) -> None:
        pass  # the work dir goes (or stays) as a whole


# --- measuring one kind -------------------------------------------------------------------------------


def interleaved(kinds: list[Kind], results: dict, failed: dict, step) -> None:
    """`step(kind)` for each kind still standing, in order; a failure takes that kind out."""
    for s in kinds:
        if s.kind in failed:
            continue
        try:
            step(s)
        except (BenchError, mystores.MyError, OSError, KeyError) as e:
            failed[s.kind] = f"{type(e).__name__}: {e}"
            log(f"[{s.kind}] failed: {e}")


def measure(binary: Path, work: Path, kinds: list[Kind], args, results: dict, failed: dict) -> None:
    """Cold registrations, warm full rescans and rescans after a write that moves no chart, taken
    round-robin over the kinds (each round runs every kind once), so the load of a shared machine
    falls on every kind alike; a server per kind stays up between the rounds."""
    env: dict[str, dict] = {}
    for s in kinds:
        results[s.kind] = {"cold_walls": [], "warm_ms": [], "warm_walls": [], "touched_ms": [],
}

    def cold(s: Kind) -> None:
        env[s.kind] = s.env(s.fresh_chartgate_db("main"), s.production_url, s.template)
        r = sb.run_measured([str(binary), "branch", "add", BRANCH, "--store", s.staging_url],
                            env=env[s.kind], cwd=work, deadline_s=3600, name=f"branch-add-{s.kind}")
        results[s.kind]["cold_walls"].append(r["wall"])
        results[s.kind]["cold_line"] = r["stdout"].strip()
        log(f"[{s.kind}] cold registration: {r['wall']:.2f} s, max RSS {r['max_rss_kb'] / 1024:.0f} MB: "
            f"{r['stdout'].strip()}")

    for run in range(1, args.cold_runs + 1):
        log(f"cold registrations, round {run}/{args.cold_runs}: chartgate branch add {BRANCH}")
        interleaved(kinds, results, failed, cold)

    servers: dict[str, tuple[sb.Server, sb.Api]] = {}

    def start(s: Kind) -> None:
        e = env[s.kind]
        sb.run_quick([str(binary), "users", "add", USER, "--role", "lead"], env=e, cwd=work, name="users add")
        token = sb.run_quick([str(binary), "tokens", "create", USER], env=e, cwd=work,
                             name="tokens create").strip().splitlines()[-1].strip()
        server = sb.Server(binary, e, work, name=f"serve-{s.kind}")
        servers[s.kind] = (server, sb.Api(server.port, token))

    base = f"/api/v1/branches/{ENV_NAME}"

    def warm(s: Kind) -> None:
        body, wall, _ = servers[s.kind][1].request("POST", f"{base}/rescan?full=true", timeout=3600)
        m = results[s.kind]
        m["warm_ms"].append(body["duration_ms"])
        m["warm_walls"].append(wall)
        m["warm_report"] = body
        log(f"[{s.kind}] warm full rescan: duration_ms {body['duration_ms']}, items {body['items']}")

    def touched(s: Kind) -> None:
        r = sb.rescans(servers[s.kind][1], base, 1, before=s.touch)
        m = results[s.kind]
        m["touched_ms"] += r["all_ms"]
        m["touched_last"] = r["last"]
        m.setdefault("rescan_items", set()).update(r["items"])

    def items(s: Kind) -> None:
        results[s.kind]["store_items"] = sb.fetch_all_items(servers[s.kind][1])

    try:
        interleaved(kinds, results, failed, start)
        for run in range(1, args.warm_runs + 1):
            log(f"warm full rescans, round {run}/{args.warm_runs}: POST rescan?full=true")
            interleaved(kinds, results, failed, warm)
        for run in range(1, args.rescans + 1):
            log(f"rescans after a write that moves no chart, round {run}/{args.rescans}")
            interleaved(kinds, results, failed, touched)
        for s in kinds:
            if s.kind in results and s.kind not in failed:
                log(f"[{s.kind}] rescans after a no-op write: duration_ms {results[s.kind]['touched_ms']}")
        interleaved(kinds, results, failed, items)
    finally:
        for k, (server, _) in servers.items():
            log(f"[{k}] server {server.stop()}")

    for s in kinds:
        m = results[s.kind]
        if s.kind in failed:
            continue
        m["cold_s"] = sb.median(m["cold_walls"])
        m["warm_s"] = sb.median(m["warm_ms"]) / 1000
        m["touched_s"] = sb.median(m["touched_ms"]) / 1000
        m["rescan_items"] = sorted(m["rescan_items"] | {m["warm_report"]["items"]})


def check_items(m: dict, baseline: list[dict] | None, originals: dict[str, str]) -> None:
    """The kind's items, by the SQLite originals' ids, must be SQLite's (`baseline`; None for SQLite)."""
    m["items"] = [{**it, "chart_id": originals.get(it["chart_id"], it["chart_id"])} for it in m.pop("store_items")]
    if baseline is None:
        m["agree"] = len(m["rescan_items"]) == 1
        return
    ours = {it["chart_id"]: it["kind"] for it in m["items"]}
    theirs = {it["chart_id"]: it["kind"] for it in baseline}
    m["agree"] = ours == theirs and m["rescan_items"] == [len(theirs)]
    if not m["agree"]:
        m["disagree"] = (f"{len(ours)} items vs SQLite's {len(theirs)}; only here {sorted(set(ours) - set(theirs))[:5]}, "
                         f"only on SQLite {sorted(set(theirs) - set(ours))[:5]}, rescans counted {m['rescan_items']}")


# --- report -------------------------------------------------------------------------------------


FIGURES = (("cold_s", "cold registration (`branch add`, CLI wall, median of {cold})"),
           ("warm_s", "warm full rescan (`rescan?full=true`, duration_ms, median of {warm})"),
           ("touched_s", "rescan after a write that moves no chart (median of {rescans}, duration_ms)"),
           ("sync_s", "sync of {sync} approved charts (`POST /sync` → job finished, wall)"))


def cell(m: dict, base: dict, key: str, kind: str, judged: bool) -> tuple[str, bool | None]:
    """A kind's figure with its ratio to SQLite's and its verdict."""
    if key not in m:
        return "—", None
    if kind == "sqlite":
        return sb.fmt_s(m[key]), None
    if key not in base:
        return f"{sb.fmt_s(m[key])} (no SQLite figure)", None
    # duration_ms is whole milliseconds: a 0 counts as 1 ms on either side.
    ratio = max(m[key], 0.001) / max(base[key], 0.001)
    ok = ratio <= TARGET_RATIO[kind]
    verdict = ("PASS" if ok else "MISS") if judged else "n/a"
    return f"{sb.fmt_s(m[key])} ({ratio:.2f}×, {verdict})", ok if judged else None


def report(results: dict, failed: dict, args) -> tuple[list[list[str]], dict]:
    kinds = [k for k in KINDS if k in results or k in failed]
    judged = args.charts >= sb.TARGET_AT_CHARTS and args.rows >= sb.TARGET_AT_ROWS
    base = results.get("sqlite", {})
    rows = [["figure"] + [LABEL[k] + ("" if k == "sqlite" else f" (≤ {TARGET_RATIO[k]:g}× SQLite)") for k in kinds]]
    verdicts: dict[str, list[bool]] = {k: [] for k in kinds}
    for key, label in FIGURES:
        row = [label.format(cold=args.cold_runs, warm=args.warm_runs, rescans=args.rescans,
                            sync=f"{args.sync_charts:,}")]
        for k in kinds:
            if k in failed:
                row.append("FAILED (see notes)")
                continue
            text, ok = cell(results[k], base, key, k, judged)
            row.append(text)
            if ok is not None:
                verdicts[k].append(ok)
        rows.append(row)
    row = ["correctness: items = SQLite's; the sync wrote what was approved (production = staging)"]
    for k in kinds:
        m = results.get(k)
        if m is None:
            row.append("—")
            continue
        sync_ok = m.get("sync", {}).get("ok", True)
        row.append(f"{len(m['items'])} items, " + ("PASS" if m["agree"] and sync_ok else "MISMATCH"))
    rows.append(row)
    return rows, verdicts


def main() -> int:
    ap = argparse.ArgumentParser(description="Chartgate on MariaDB, a mapped schema and files, against SQLite")
    ap.add_argument("--charts", type=int, default=20_000)
    ap.add_argument("--rows", type=int, default=350)
    ap.add_argument("--kinds", default=",".join(KINDS),
                    help=f"comma-separated, of {', '.join(KINDS)} (sqlite, the baseline, always runs first)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work dir and the MariaDB stores; a later run with the same sizes reuses them")
    ap.add_argument("--cold-runs", type=int, default=3, help="rounds of cold registrations (median)")
    ap.add_argument("--warm-runs", type=int, default=3, help="rounds of warm full rescans (median)")
    ap.add_argument("--rescans", type=int, default=5, help="rounds of rescans after a no-op write (median)")
    ap.add_argument("--sync-charts", type=int, default=1000)
    ap.add_argument("--no-sync", action="store_true", help="skip the sync phase (quick iterations)")
    ap.add_argument("--no-prepare", action="store_true", help="no `chartgate store prepare` on the §3 stores")
    ap.add_argument("--rust-log", help="RUST_LOG for every Chartgate process (e.g. chartgate::scans=debug); "
                                       "their stderr stays in the work dir (use with --keep)")
    ap.add_argument("--my-host", default="127.0.0.1")
    ap.add_argument("--my-port", type=int, default=3306)
    ap.add_argument("--my-user", default="root")
    ap.add_argument("--my-buffer-pool", default="2G",
                    help="innodb_buffer_pool_size for the run, restored afterwards ('' keeps the server's): "
                         "SQLite reads through the OS page cache, so MariaDB gets a pool that holds its stores "
                         "(docs/stores.md recommends one larger than the store)")
    ap.add_argument("--binary", type=Path, default=sb.ROOT / "target" / "release" / "chartgate")
    ap.add_argument("--build", action="store_true", help="run cargo build --release first (default: only if missing)")
    args = ap.parse_args()
    asked = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = [k for k in asked if k not in KINDS]
    if unknown:
        ap.error(f"unknown kind(s) {unknown}: choose from {', '.join(KINDS)}")
    kinds = [k for k in KINDS if k in asked or k == "sqlite"]

    binary = args.binary.resolve()
    if args.build or not binary.exists():
        sb.build(binary)
    work = sb.OUT / (f"run-{args.charts}" if args.rows == sb.TARGET_AT_ROWS else f"run-{args.charts}-{args.rows}")
    load, binary_mtime, neighbours = os.getloadavg(), binary.stat().st_mtime, sb.busy_neighbours()
    started_at = time.strftime("%Y-%m-%d %H:%M")
    log(f"binary {binary} (built {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(binary_mtime))}); "
        f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; kinds {', '.join(kinds)}")

    my = mystores.My(args.my_host, args.my_port, args.my_user)
    if any(k.startswith("mysql") for k in kinds):
        why = my.available()
        if why:
            raise BenchError(f"MariaDB does not answer at {args.my_host}:{args.my_port}: {why}")
    pool_before = None
    if args.my_buffer_pool and any(k.startswith("mysql") for k in kinds):
        pool_before = my.run(None, "select @@global.innodb_buffer_pool_size").strip()
        my.run(None, f"set global innodb_buffer_pool_size = {mystores.bytes_of(args.my_buffer_pool)}")
        log(f"innodb_buffer_pool_size {int(pool_before) >> 20} MB -> {args.my_buffer_pool} for this run")
    if sb.stores_ready(work, args.charts, args.rows):
        log(f"reusing stores kept in {work} (generation skipped)")
    else:
        sb.generate(binary, work, args.charts, args.rows)
    mysql = MysqlKind(work, my, args.charts, args.rows)
    stores: dict[str, Kind] = {"sqlite": SqliteKind(work), "mysql": mysql,
                               "mysql-mapped": MappedKind(work, my, args.charts, args.rows, mysql),
                               "files": FilesKind(work)}
    all_ids = sorted({i for p in (work / "production.db", work / "staging" / f"{ENV_NAME}.db") for i, in sb._ids(p)})

    results: dict[str, dict] = {}
    failed: dict[str, str] = {}
    notes: list[str] = []
    prepared: dict[str, str] = {}
    order = [stores[k] for k in kinds]
    try:
        def prepare(s: Kind) -> None:
            s.rust_log = args.rust_log
            results[s.kind] = {"load_s": s.prepare().get("load_s")}
            if s.preparable() and not args.no_prepare:
                prepared[s.kind] = "; ".join(
                    sb.run_quick([str(binary), "store", "prepare", url], env=dict(os.environ), cwd=work,
                                 name="store prepare").strip() for url in (s.production_url, s.staging_url))
                log(f"[{s.kind}] chartgate store prepare: {prepared[s.kind]}")

        interleaved(order, results, failed, prepare)
        loads = {k: results.pop(k)["load_s"] for k in list(results)}
        measure(binary, work, [s for s in order if s.kind not in failed], args, results, failed)
        if "sqlite" in failed:
            raise BenchError(f"the SQLite baseline failed: {failed['sqlite']}")
        for s in order:
            if s.kind in failed:
                results.pop(s.kind, None)
                continue
            m = results[s.kind]
            m["load_s"] = loads.get(s.kind)
            check_items(m, None if s.kind == "sqlite" else results["sqlite"]["items"],
                        {s.chart_id(i): i for i in all_ids})
            if not m["agree"]:
                notes.append(f"{s.kind}: ITEMS DIFFER FROM SQLITE'S: {m.get('disagree')}")

        # The sync, one kind after the other (each on copies of its stores, with its own server).
        def sync(s: Kind) -> None:
            m = results[s.kind]
            m["sync"] = sb.sync_phase(binary, work, s, {"item_list": {}}, results["sqlite"]["items"],
                                      args.sync_charts)
            m["sync_s"] = m["sync"]["wall_s"]
            if not m["sync"]["ok"]:
                sy = m["sync"]
                notes.append(f"{s.kind}: SYNC MISMATCH: {sy['ours_updated']}/{sy['requested']} updated, "
                             f"{sy['written']} written, production = staging for {sy['same_content']}; "
                             f"outcomes {sy['outcomes']}, reasons {sy['reasons']}")

        if not args.no_sync:
            interleaved([s for s in order if s.kind in results], results, failed, sync)
        for k, why in failed.items():
            notes.append(f"{k}: FAILED: {why}")
            results.pop(k, None)
    finally:
        if pool_before is not None:
            my.run(None, f"set global innodb_buffer_pool_size = {pool_before}")
            notes.append(f"MariaDB's innodb_buffer_pool_size was {args.my_buffer_pool} for the run "
                         f"(restored to {int(pool_before) >> 20} MB)")
        # The mapped kind fills its tables from the `mysql` kind's stores, loading them if need be.
        for k in kinds + (["mysql"] if "mysql-mapped" in kinds and "mysql" not in kinds else []):
            stores[k].cleanup(args.keep)

    rows, verdicts = report(results, failed, args)
    load_end = os.getloadavg()
    neighbours = sorted(set(neighbours) | set(sb.busy_neighbours()))
    if neighbours:
        notes.append(f"compilers were running beside the benchmark (at start or end): {', '.join(neighbours[:6])}"
                     f"{' …' if len(neighbours) > 6 else ''}; timings are skewed")
    if binary.stat().st_mtime != binary_mtime:
        notes.append("THE BINARY CHANGED DURING THE RUN: rerun")
    cmd = f"python3 bench/store_kinds.py --charts {args.charts} --rows {args.rows} --kinds {','.join(kinds)}"
    details = [
        f"- command: `{cmd}`; {started_at}; {platform.node()}, {os.cpu_count()} CPUs, load average at start "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, at end {load_end[0]:.2f}; binary built "
        f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(binary_mtime))}",
        "- figures taken round-robin: each round of cold registrations, warm full rescans and rescans runs "
        f"every kind once ({', '.join(kinds)}); the syncs one kind after the other",
        "- stores prepared (`chartgate store prepare`): " + ("; ".join(f"{k}: {v}" for k, v in prepared.items()) or "none"),
    ]
    for k, m in results.items():
        sy = m.get("sync", {})
        details.append(
            f"- {k}: stores written "
            + (f"in {m['load_s']:.1f} s (not timed)" if m.get("load_s") else "before (reused)" if k != "sqlite" else "by the demo")
            + f"; cold runs {', '.join(sb.fmt_s(w) for w in m['cold_walls'])} (`{m['cold_line']}`); warm full rescans "
            f"duration_ms {m['warm_ms']} (wall {', '.join(sb.fmt_s(w) for w in m['warm_walls'])}), last: production "
            f"{json.dumps(m['warm_report']['production'])}, staging {json.dumps(m['warm_report']['staging'])}; rescans "
            f"after a no-op write: duration_ms {m['touched_ms']}, last staging {json.dumps(m['touched_last']['staging'])}"
            + (f"; sync job {sy['status']}, outcomes {json.dumps(sy['outcomes'])}, server created → finished "
               f"{sb.fmt_s(sy['server_s'])}, production = staging for {sy['same_content']}/{sy['requested']} "
               f"({sy['same_bytes']} byte-identical)" if sy else ""))
    details += [f"- NOTE: {n}" for n in notes]
    summary = ", ".join(f"{LABEL[k]} {'PASS' if all(v) else 'MISS'}" for k, v in verdicts.items() if v)
    text = sb.markdown(rows) + "\n\n" + (f"Verdict: {summary}\n\n" if summary else "") + "\n".join(details) + "\n"
    print()
    print(text)
    sb.OUT.mkdir(parents=True, exist_ok=True)
    partial = args.no_sync or len(kinds) < len(KINDS)
    out = sb.OUT / f"results-kinds-{args.charts}{'-partial' if partial else ''}.md"
    out.write_text(f"# Chartgate store kinds ({args.charts:,} charts × {args.rows} rows)\n\n" + text)
    log(f"wrote {out}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    if any(not m["agree"] or not m.get("sync", {}).get("ok", True) for m in results.values()):
        return 1
    return 2 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BenchError, mystores.MyError) as e:
        print(f"\nBENCHMARK FAILED: {e}", file=sys.stderr)
        sys.exit(2)
