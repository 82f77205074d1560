"""PostgreSQL helpers for bench/scan_bench.py --pg (standard library only; drives `psql`).

Chart stores are copied from the SQLite stores `chartgate demo` wrote, so the Python reference
(which reads the SQLite originals) sees the same content: the `charts` table is created exactly as
server/src/charts/store.rs `CHARTS_TABLE` does, and rows are streamed in with
`\\copy charts from pstdin with (format csv)` (every field quoted, so an empty string stays an
empty string and never becomes NULL).
"""

from __future__ import annotations

import csv
import io
import sqlite3
import subprocess
from pathlib import Path

# server/src/charts/store.rs CHARTS_TABLE, verbatim.
CHARTS_TABLE = """create table if not exists charts (
    id         text primary key,
    slug       text not null unique,
    config     text not null,
    data       text not null,
    metadata   text not null,
    updated_at text not null
)"""

COLUMNS = ("id", "slug", "config", "data", "metadata", "updated_at")


class PgError(Exception):
    pass


class Pg:
    """One PostgreSQL server reached through psql (trust auth)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 5432, user: str = "postgres", admin_db: str = "test"):
        self.host, self.port, self.user, self.admin_db = host, port, user, admin_db

    def url(self, db: str) -> str:
        return f"postgres://{self.user}@{self.host}:{self.port}/{db}"

    def _argv(self, db: str) -> list[str]:
        return ["psql", "-h", self.host, "-p", str(self.port), "-U", self.user, "-d", db,
                "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]

    def run(self, db: str, sql: str, *, timeout: float = 600) -> str:
        try:
            p = subprocess.run(self._argv(db) + ["-c", sql], capture_output=True, text=True, timeout=timeout,
                               stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise PgError("psql is not installed") from None
        except subprocess.TimeoutExpired:
            raise PgError(f"psql on {db}: no answer within {timeout:.0f} s: {sql[:200]}") from None
        if p.returncode != 0:
            raise PgError(f"psql on {db} failed ({p.returncode}): {p.stderr.strip()[-1500:]}\n  sql: {sql[:300]}")
        return p.stdout

    def scalar(self, db: str, sql: str) -> str:
        return self.run(db, sql).strip()

    def available(self) -> str | None:
        """None when the server answers, else why not."""
        try:
            self.scalar(self.admin_db, "select 1")
            return None
        except PgError as e:
            return str(e)

    def exists(self, db: str) -> bool:
        return self.scalar(self.admin_db, f"select count(*) from pg_database where datname = '{db}'") == "1"

    def drop(self, db: str) -> None:
        self.run(self.admin_db, f'drop database if exists "{db}" with (force)')

    def create(self, db: str, template: str | None = None) -> None:
        """A fresh database (dropped first when it exists)."""
        self.drop(db)
        tpl = f' template "{template}"' if template else ""
        self.run(self.admin_db, f'create database "{db}"{tpl}', timeout=3600)

    def database_size(self, db: str) -> int:
        return int(self.scalar(self.admin_db, f"select pg_database_size('{db}')"))

    def count(self, db: str) -> int:
        return int(self.scalar(db, "select count(*) from charts"))

    def copy_store(self, sqlite_path: Path, db: str) -> int:
        """Creates `db` with a `charts` table holding every row of the SQLite store; returns rows."""
        self.create(db)
        self.run(db, CHARTS_TABLE)
        cols = ", ".join(COLUMNS)
        proc = subprocess.Popen(
            self._argv(db) + ["-c", f"\\copy charts ({cols}) from pstdin with (format csv)"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        n = 0
        src = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
        try:
            out = io.TextIOWrapper(proc.stdin, encoding="utf-8", newline="")
            w = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
            for row in src.execute(f"select {cols} from charts"):
                w.writerow(row)
                n += 1
            out.close()
        except BrokenPipeError:
            pass
        finally:
            src.close()
        proc.stdin = None  # closed above, with its wrapper
        _, err = proc.communicate(timeout=3600)
        if proc.returncode != 0:
            raise PgError(f"copy of {sqlite_path.name} into {db} failed: {err.decode(errors='replace')[-1500:]}")
        self.run(db, "analyze charts")
        return n

    def rows(self, db: str, ids: list[str]) -> dict[str, tuple[str, str, str, str, str]]:
        """id → (slug, config, data, metadata, updated_at) for the given ids."""
        if not ids:
            return {}
        arr = "array[" + ",".join("'" + i.replace("'", "''") + "'" for i in ids) + "]"
        sql = f"\\copy (select {', '.join(COLUMNS)} from charts where id = any({arr})) to pstdout with (format csv)"
        p = subprocess.run(self._argv(db) + ["-c", sql], capture_output=True, timeout=600, stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            raise PgError(f"reading rows of {db} failed: {p.stderr.decode(errors='replace')[-1500:]}")
        out = {}
        for r in csv.reader(io.StringIO(p.stdout.decode("utf-8"), newline="")):
            out[r[0]] = tuple(r[1:])
        return out

    def update_rows(self, db: str, rows: list[tuple[str, str, str]], scratch: Path) -> None:
        """Sets (config, updated_at) of the charts (id, config, updated_at) in one statement."""
        path = scratch / f"edits-{db}.csv"
        with open(path, "w", encoding="utf-8", newline="") as f:
            csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
        script = (
            "begin;\n"
            "create temp table bench_edits (id text primary key, config text not null, updated_at text not null);\n"
            f"\\copy bench_edits from '{path}' with (format csv)\n"
            "update charts c set config = e.config, updated_at = e.updated_at from bench_edits e where c.id = e.id;\n"
            "commit;\n"
        )
        p = subprocess.run(self._argv(db), input=script, capture_output=True, text=True, timeout=600)
        path.unlink(missing_ok=True)
        if p.returncode != 0:
            raise PgError(f"editing rows of {db} failed: {p.stderr.strip()[-1500:]}")
