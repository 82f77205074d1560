#!/usr/bin/env python3
"""Plain-Python reference for Chartgate's scan: which charts does a branch change?

Single process, standard library only (sqlite3, json, hashlib). It reads every row of the
production store and of a staging store, canonicalises and hashes every row on both sides, and
classifies each chart the way Chartgate does (server/src/scan.rs `items_of`,
server/src/diff/classify.rs `classify`), with baseline = production as it is now (the benchmark
registers the branch on an unchanged production, so the baseline hashes are production's hashes).

Canonicalisation mirrors server/src/charts/version.rs:
  * config, data, metadata parsed as JSON;
  * config and metadata: top-level keys updated_at, updatedAt, version, last_edited_at dropped;
  * every float that is integral with |x| < 2**53 becomes an int (2e3 == 2000.0 == 2000);
  * data["rows"] (when a list) sorted by (series, entity, time): missing (or null series) first,
    numbers numerically, strings by text, numbers before strings; ties by the row's canonical text;
  * compact JSON with sorted keys, non-ASCII kept;
  * hash = sha256 over slug, config, data, metadata, each preceded by its UTF-8 length (u64 LE).

Known divergences (none occur in `chartgate demo` data): float text in exponent form (Python
writes 1e-05 / 1e+16, serde_json's ryu writes 0.00001 / 1e16), integers beyond 64 bits (Rust
reads them as floats), lone surrogate escapes (Rust rejects them), and rows whose key values
are neither numbers nor strings (Rust's comparator is not a total order there).

Usage: python3 bench/reference.py PRODUCTION.db STAGING.db [--json]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import resource
import sqlite3
import sys
import time

VOLATILE_KEYS = ("updated_at", "updatedAt", "version", "last_edited_at")
_LIMIT = 9_007_199_254_740_992.0  # 2**53


def _parse_float(text: str):
    """Number normalisation at parse time: an integral float is an integer."""
    f = float(text)
    if f.is_integer() and abs(f) < _LIMIT:
        return int(f)
    if f in (_INF, -_INF):
        raise ValueError(f"number out of range: {text}")  # serde_json rejects it too
    return f


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")  # Python accepts NaN/Infinity; JSON (and serde) do not


_INF = float("inf")
_decode = json.JSONDecoder(parse_float=_parse_float, parse_constant=_reject_constant).decode
_encode = json.JSONEncoder(separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode


def _parse(part: str, text: str):
    try:
        return _decode(text)
    except (ValueError, RecursionError) as e:
        raise CanonError(f"{part} is not valid JSON: {e}") from None


class CanonError(Exception):
    pass


# --- data rows: ordered by (series, entity, time) ---------------------------------------------

_MISSING = (0, 0)


def _key_value(v):
    """Sort key of one key value; None when the value is neither a number nor a string."""
    t = type(v)
    if t is str:
        return (2, v)
    if t is int or t is float:
        return (1, float(v))  # Rust compares numbers as f64
    return None


def _row_key(row):
    if type(row) is not dict:
        return (_MISSING, _MISSING, _MISSING)
    out = []
    for name in ("series", "entity", "time"):
        if name not in row or (name == "series" and row[name] is None):
            out.append(_MISSING)
            continue
        k = _key_value(row[name])
        if k is None:
            return None
        out.append(k)
    return tuple(out)


def _compare_values(a, b) -> int:
    """compare_values of version.rs, for the rare rows whose keys are not numbers or strings."""
    ta, tb = type(a), type(b)
    num = lambda t: t is int or t is float  # noqa: E731
    if num(ta) and num(tb):
        x, y = float(a), float(b)
        return (x > y) - (x < y)
    if ta is str and tb is str:
        return (a > b) - (a < b)
    if num(ta):
        return -1
    if num(tb):
        return 1
    x, y = _encode(a), _encode(b)
    return (x > y) - (x < y)


def _compare_rows(a, b) -> int:
    def key(row):
        if type(row) is not dict:
            return (None, None, None)
        s = row.get("series")
        return (
            ("v", s) if s is not None else None,
            ("v", row["entity"]) if "entity" in row else None,
            ("v", row["time"]) if "time" in row else None,
        )

    for x, y in zip(key(a), key(b)):
        if x is None and y is None:
            continue
        if x is None:
            return -1
        if y is None:
            return 1
        c = _compare_values(x[1], y[1])
        if c:
            return c
    x, y = _encode(a), _encode(b)
    return (x > y) - (x < y)


def _sort_rows(rows: list) -> None:
    keys = [_row_key(r) for r in rows]
    if any(k is None for k in keys):
        rows.sort(key=functools.cmp_to_key(_compare_rows))
        return
    order = sorted(range(len(rows)), key=keys.__getitem__)  # stable
    sorted_rows = [rows[i] for i in order]
    sorted_keys = [keys[i] for i in order]
    # Equal keys (malformed data): those runs are ordered by the rows' canonical text.
    i, n = 0, len(sorted_rows)
    while i < n:
        j = i + 1
        while j < n and sorted_keys[j] == sorted_keys[i]:
            j += 1
        if j - i > 1:
            sorted_rows[i:j] = sorted(sorted_rows[i:j], key=_encode)
        i = j
    rows[:] = sorted_rows


# --- one chart ----------------------------------------------------------------------------------


def canonical_parts(config: str, data: str, metadata: str) -> tuple[str, str, str]:
    c = _parse("config", config)
    d = _parse("data", data)
    m = _parse("metadata", metadata)
    for doc in (c, m):
        if type(doc) is dict:
            for k in VOLATILE_KEYS:
                doc.pop(k, None)
    if type(d) is dict and type(d.get("rows")) is list:
        _sort_rows(d["rows"])
    return _encode(c), _encode(d), _encode(m)


def _digest(parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        b = p.encode("utf-8", "surrogatepass")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def version_hash(slug: str, config: str, data: str, metadata: str) -> str:
    """The version hash of a stored chart; raises CanonError for invalid JSON."""
    return _digest((slug, *canonical_parts(config, data, metadata)))


# --- one store ------------------------------------------------------------------------------


class SideState:
    __slots__ = ("hash", "raw", "error")

    def __init__(self, hash_, raw, error):
        self.hash = hash_  # None when the row is not valid JSON
        self.raw = raw  # digest of the stored bytes, kept only for unreadable rows
        self.error = error


def scan_store(path: str) -> tuple[dict[str, SideState], dict]:
    """Reads and hashes every row of a SQLite chart store."""
    started = time.perf_counter()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    states: dict[str, SideState] = {}
    nbytes = errors = 0
    try:
        cur = conn.execute("select id, slug, config, data, metadata from charts")
        while True:
            batch = cur.fetchmany(256)
            if not batch:
                break
            for cid, slug, config, data, metadata in batch:
                nbytes += len(config) + len(data) + len(metadata)
                try:
                    states[cid] = SideState(version_hash(slug, config, data, metadata), None, None)
                except CanonError as e:
                    errors += 1
                    states[cid] = SideState(None, _digest((slug, config, data, metadata)), str(e))
    finally:
        conn.close()
    stats = {"rows": len(states), "chars": nbytes, "errors": errors, "seconds": time.perf_counter() - started}
    return states, stats


# --- classification (scan.rs items_of + classify.rs) ------------------------------------------


def classify(baseline: dict, staging: dict, production: dict) -> dict[str, dict]:
    items = {}
    for cid in set(baseline) | set(staging):
        b, s, p = baseline.get(cid), staging.get(cid), production.get(cid)
        kind = "deleted" if s is None else ("new" if b is None else "modified")
        if any(x is not None and x.error for x in (s, p, b)):
            # An unreadable side: an item only when staging's bytes differ from the baseline's.
            same = (s is None and b is None) or (
                s is not None and b is not None and _raw_id(s) == _raw_id(b)
            )
            if same:
                continue
            items[cid] = {"kind": kind, "conflict": False, "error": True, "staging_hash": s and s.hash}
            continue
        hb, hs, hp = (x.hash if x is not None else None for x in (b, s, p))
        if hs == hp or hs == hb:
            continue
        items[cid] = {"kind": kind, "conflict": hp != hb, "error": False, "staging_hash": hs}
    return items


def _raw_id(x: SideState):
    # Readable rows have no raw digest kept; equal bytes would give equal hashes, and a readable
    # row never has the bytes of an unreadable one.
    return x.raw if x.raw is not None else ("ok", x.hash)


def run(production_path: str, staging_path: str) -> dict:
    started = time.perf_counter()
    production, prod_stats = scan_store(production_path)
    baseline = production  # registration on an unchanged production: baseline = production now
    staging, stage_stats = scan_store(staging_path)
    items = classify(baseline, staging, production)
    seconds = time.perf_counter() - started
    kinds: dict[str, int] = {}
    for it in items.values():
        kinds[it["kind"]] = kinds.get(it["kind"], 0) + 1
    return {
        "seconds": seconds,
        "items": len(items),
        "kinds": kinds,
        "conflicts": sum(1 for it in items.values() if it["conflict"]),
        "errors": sum(1 for it in items.values() if it["error"]),
        "production": prod_stats,
        "staging": stage_stats,
        "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "item_list": {cid: {"kind": it["kind"], "staging_hash": it["staging_hash"]} for cid, it in items.items()},
        "production_hashes": {cid: st.hash for cid, st in production.items()},
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("production")
    ap.add_argument("staging")
    ap.add_argument("--json", action="store_true", help="print the full result (items, hashes) as JSON")
    args = ap.parse_args(argv)
    result = run(args.production, args.staging)
    if args.json:
        json.dump(result, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(
            f"{result['items']} items {result['kinds']} (conflicts {result['conflicts']}, errors {result['errors']}) "
            f"in {result['seconds']:.2f} s; production {result['production']['rows']} rows "
            f"{result['production']['seconds']:.2f} s, staging {result['staging']['rows']} rows "
            f"{result['staging']['seconds']:.2f} s; max RSS {result['max_rss_kb'] / 1024:.0f} MB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
