"""MariaDB / MySQL helpers for bench/store_kinds.py (standard library only; drives the `mysql` client).

Chart stores are loaded from the SQLite stores `chartgate demo` wrote, so every kind of store holds
the same content: §3's `charts` table is created exactly as server/src/charts/store/sql.rs
`CHARTS_TABLE_MYSQL` does, and rows are streamed in with `load data local infile` (tab-separated,
the client's default escaping). Text goes back out hex-encoded, so no byte of it is reinterpreted
on the way.
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

# server/src/charts/store/sql.rs CHARTS_TABLE_MYSQL, verbatim.
CHARTS_TABLE = """create table if not exists charts (
    id         varchar(191) not null primary key,
    slug       varchar(191) not null unique,
    config     longtext not null,
    data       longtext not null,
    metadata   longtext not null,
    updated_at varchar(64) not null
) character set utf8mb4 collate utf8mb4_bin"""

COLUMNS = ("id", "slug", "config", "data", "metadata", "updated_at")

# `load data`'s default field escaping (fields terminated by tab, lines by newline, escaped by \).
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\0": "\\0"})


class MyError(Exception):
    pass


def bytes_of(size: str) -> int:
    """`2G`, `512M`, `1048576` as bytes."""
    size = size.strip().upper()
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(size[-1:], 1)
    return int(size[:-1] if scale > 1 else size) * scale


def text_literal(s: str) -> str:
    """`s` as a SQL literal no sql_mode can misread (hex of its UTF-8 bytes)."""
    return f"convert(x'{s.encode().hex()}' using utf8mb4)"


def in_list(ids: list[str]) -> str:
    return ",".join(text_literal(i) for i in ids)


class My:
    """One MariaDB/MySQL server reached through the `mysql` client (a user without a password)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 3306, user: str = "root"):
        self.host, self.port, self.user = host, port, user

    def url(self, db: str, query: str = "") -> str:
        return f"mysql://{self.user}@{self.host}:{self.port}/{db}{query}"

    def _argv(self, db: str | None) -> list[str]:
        argv = ["mysql", "--protocol=tcp", "-h", self.host, "-P", str(self.port), "-u", self.user,
                "--batch", "--skip-column-names", "--local-infile=1", "--default-character-set=utf8mb4"]
        return argv + ([db] if db else [])

    def run(self, db: str | None, sql: str, *, timeout: float = 3600) -> str:
        """Runs a script (statements separated by `;`), returns the client's batch output."""
        try:
            p = subprocess.run(self._argv(db), input=sql, capture_output=True, text=True, timeout=timeout)
        except FileNotFoundError:
            raise MyError("the mysql client is not installed") from None
        except subprocess.TimeoutExpired:
            raise MyError(f"mysql on {db}: no answer within {timeout:.0f} s: {sql[:200]}") from None
        if p.returncode != 0:
            raise MyError(f"mysql on {db} failed ({p.returncode}): {p.stderr.strip()[-1500:]}\n  sql: {sql[:300]}")
        return p.stdout

    def available(self) -> str | None:
        """None when the server answers, else why not."""
        try:
            self.run(None, "select 1", timeout=30)
            return None
        except MyError as e:
            return str(e)

    def exists(self, db: str) -> bool:
        return self.run(None, f"select count(*) from information_schema.schemata where schema_name = '{db}'").strip() == "1"

    def drop(self, db: str) -> None:
        self.run(None, f"drop database if exists `{db}`")

    def create(self, db: str) -> None:
        """A fresh database (dropped first when it exists)."""
        self.run(None, f"drop database if exists `{db}`; create database `{db}` character set utf8mb4 collate utf8mb4_bin")

    def count(self, db: str, table: str = "charts") -> int:
        return int(self.run(db, f"select count(*) from `{table}`").strip())

    def copy_tables(self, src: str, dst: str, tables: list[str]) -> None:
        """`dst` afresh, holding a copy of `src`'s tables (their definitions and rows)."""
        self.create(dst)
        self.run(None, "".join(f"create table `{dst}`.`{t}` like `{src}`.`{t}`; "
                               f"insert into `{dst}`.`{t}` select * from `{src}`.`{t}`; " for t in tables))

    def load_store(self, sqlite_path: Path, db: str, scratch: Path) -> int:
        """Creates `db` with §3's `charts` table holding every row of the SQLite store; returns rows."""
        self.create(db)
        self.run(db, CHARTS_TABLE)
        tsv, n = scratch / f"load-{db}.tsv", 0
        src = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
        try:
            with open(tsv, "w", encoding="utf-8", newline="\n") as f:
                for row in src.execute(f"select {', '.join(COLUMNS)} from charts"):
                    f.write("\t".join(v.translate(_ESCAPES) for v in row) + "\n")
                    n += 1
        finally:
            src.close()
        try:
            self.run(db, f"load data local infile '{tsv}' into table charts character set utf8mb4 "
                         f"({', '.join(COLUMNS)}); analyze table charts")
        finally:
            tsv.unlink(missing_ok=True)
        return n

    def select_hex(self, db: str, sql: str) -> list[list[str]]:
        """The rows of `sql`, whose columns are each `hex(…)` of a text: decoded back to text."""
        out = []
        for line in self.run(db, sql).splitlines():
            out.append([bytes.fromhex(v).decode("utf-8") for v in line.split("\t")])
        return out
