#!/usr/bin/env python3
"""Sign-in burst: does the server's memory stay flat when many sign-ins arrive at once?

    python3 bench/signin_burst.py [--concurrent 96] [--rounds 3] [--binary target/release/chartgate]

Starts `chartgate serve` on demo data, then sends `--concurrent` sign-ins for invented emails at
the same moment, `--rounds` times, sampling the server's resident memory (VmRSS) every 10 ms.
Each sign-in runs argon2 (~19 MiB); before hashing was bounded, 96 at once grew the server by
~985 MB, and it stayed grown. Now at most one hash per core runs, and a sign-in that waits more
than `sign_in_wait` (2 s) for a slot is answered 429. Prints the answers, the memory before, the
peak during and the memory after each round, and PASS when the growth stays within one argon2
block per core plus 64 MB. Standard library only.
"""

from __future__ import annotations

import argparse
import http.client
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scan_bench as sb  # noqa: E402  (the scan benchmark's process helpers)

ARGON2_MIB = 19


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise sb.BenchError("no VmRSS in /proc status")


def sign_in(port: int, email: str, out: list, start: threading.Event) -> None:
    start.wait()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        out.append(sb.post_sign_in(conn, port, email, "a guess"))
    except OSError as e:
        out.append(f"error: {e.__class__.__name__}")
    finally:
        conn.close()


def burst(port: int, pid: int, n: int, round_no: int) -> dict:
    answers: list = []
    start = threading.Event()
    threads = [
        threading.Thread(target=sign_in, args=(port, f"invented{round_no}-{i}@example.org", answers, start))
        for i in range(n)
    ]
    for t in threads:
        t.start()
    before = rss_kb(pid)
    peak, stop = [before], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss_kb(pid))
            time.sleep(0.01)  # sampling interval, not synchronisation

    sampler = threading.Thread(target=sample)
    sampler.start()
    began = time.perf_counter()
    start.set()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    stop.set()
    sampler.join()
    return {"before": before, "peak": peak[0], "after": rss_kb(pid), "answers": Counter(answers), "wall": wall}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--concurrent", type=int, default=96)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--binary", type=Path, help="the chartgate binary (default target/release/chartgate)")
    args = ap.parse_args()
    binary, work, env = sb.small_demo(args.binary, "signin_burst")
    server = sb.Server(binary, env, work)
    rounds = []
    try:
        pid = server.proc.pid
        for r in range(args.rounds):
            rounds.append(burst(server.port, pid, args.concurrent, r))
    finally:
        server.stop()

    cores = os.cpu_count() or 1
    allowed_kb = (cores * ARGON2_MIB + 64) * 1024
    rows = [["round", "sign-ins", "answers", "wall s", "RSS before MB", "peak MB", "after MB", "peak growth MB"]]
    for i, r in enumerate(rounds):
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(r["answers"].items(), key=str))
        rows.append([str(i + 1), str(args.concurrent), answers, f"{r['wall']:.1f}", f"{r['before'] / 1024:.0f}",
                     f"{r['peak'] / 1024:.0f}", f"{r['after'] / 1024:.0f}", f"{(r['peak'] - r['before']) / 1024:.0f}"])
    print(sb.markdown(rows))
    growth = max(r["peak"] for r in rounds) - rounds[0]["before"]
    print(f"\ngrowth over all rounds {growth / 1024:.0f} MB; allowed {allowed_kb / 1024:.0f} MB "
          f"({cores} cores × {ARGON2_MIB} MiB + 64 MB)")
    errors = sum(v for r in rounds for k, v in r["answers"].items() if not isinstance(k, int) or k >= 500)
    flat = growth <= allowed_kb and errors == 0
    print("PASS: memory stays flat" if flat else "MISS: memory grew past the bound, or a sign-in failed")
    return 0 if flat else 1


if __name__ == "__main__":
    sys.exit(main())
