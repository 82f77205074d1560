#!/usr/bin/env python3
"""Sign-in timing: does the answer's time tell whether an email has an account?

    python3 bench/signin_timing.py [--tries 200] [--binary target/release/chartgate]

Starts `chartgate serve` on demo data with one account, then signs in `--tries` times each, in an
interleaved order, with (a) the account's email and a wrong password and (b) emails that have no
account. Prints median, p10 and p90 of each and the gap between the medians next to the spread
of the known-email timings. Before the fix an unknown email skipped the password hash and
answered in ~1 ms against ~23 ms. Wrong passwords are used throughout; every try uses its own
email, so sign-in throttling (per address and account) never answers in place of the check.
Standard library only.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scan_bench as sb  # noqa: E402  (the scan benchmark's process helpers)


def sign_in(port: int, email: str, password: str) -> tuple[float, int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    started = time.perf_counter()
    status = sb.post_sign_in(conn, port, email, password)
    elapsed = (time.perf_counter() - started) * 1000
    conn.close()
    return elapsed, status


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tries", type=int, default=200)
    ap.add_argument("--binary", type=Path, help="the chartgate binary (default target/release/chartgate)")
    args = ap.parse_args()
    binary, work, env = sb.small_demo(args.binary, "signin")
    known = []
    for i in range(args.tries):
        # One account per try, so throttling (per address and account) never answers instead.
        email = f"known{i}@example.org"
        known.append(email)
    for email in known:
        subprocess.run([str(binary), "users", "add", email, "--role", "viewer", "--password-stdin"], env=env,
                       cwd=work, input=b"a long enough password\n", check=True, capture_output=True)
    server = sb.Server(binary, env, work)
    times: dict[str, list[float]] = {"account exists": [], "no account": []}
    statuses: set[int] = set()
    try:
        sign_in(server.port, "warm-up@example.org", "x")
        for i in range(args.tries):
            for kind, email in (("account exists", known[i]), ("no account", f"nobody{i}@example.org")):
                ms, status = sign_in(server.port, email, "not the password")
                times[kind].append(ms)
                statuses.add(status)
    finally:
        server.stop()

    def q(xs: list[float], p: float) -> float:
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(len(xs) * p))]

    rows = [["email", "tries", "p10 ms", "median ms", "p90 ms"]]
    for kind, xs in times.items():
        rows.append([kind, str(len(xs)), f"{q(xs, 0.1):.1f}", f"{statistics.median(xs):.1f}", f"{q(xs, 0.9):.1f}"])
    gap = abs(statistics.median(times["account exists"]) - statistics.median(times["no account"]))
    spread = q(times["account exists"], 0.9) - q(times["account exists"], 0.1)
    print(sb.markdown(rows))
    print(f"\nanswers: {sorted(statuses)}; median gap {gap:.1f} ms against a p10–p90 spread of {spread:.1f} ms")
    same = gap <= max(spread / 2, 2.0)
    print("PASS: the time does not tell" if same else "MISS: the medians differ by more than the noise")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
