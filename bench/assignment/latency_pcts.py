#!/usr/bin/env python3
"""Percentiles of a pgbench --log (latency in µs, third column), raw and as wrk counts them.

usage: latency_pcts.py SECONDS CONNS FILE...
prints: p50_ms p95_ms p99_ms n p99_wrk_ms p999_ms over_10ms

wrk does not report the latencies it measured: before printing (and before its Lua `done`
sees them) it applies a coordinated-omission correction (stats_correct in wrk's stats.c).
With E = run time / (requests / connections), every recorded latency L >= 2E adds synthetic
samples at L - E, L - 2E, ... while they are above E. p99_wrk_ms applies the same correction
to pgbench's samples, so that a wrk figure can be set beside a pgbench one like for like.
"""
import math
import sys
from collections import Counter


def pct(hist, total, q):
    """The smallest value with at least q % of the samples at or below it."""
    want = max(1, math.ceil(q / 100 * total))
    seen = 0
    for v in sorted(hist):
        seen += hist[v]
        if seen >= want:
            return v
    return 0


def main():
    secs, conns, files = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    hist = Counter()
    for f in files:
        with open(f) as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 3:
                    hist[int(parts[2])] += 1
    n = sum(hist.values())
    if n == 0:
        sys.exit("no samples")
    raw = [pct(hist, n, q) / 1000 for q in (50, 95, 99)]
    # wrk's correction, at its resolution (whole microseconds).
    expected = int(secs * 1e6) // max(1, n // conns)
    corrected, total = Counter(hist), n
    if expected > 0:
        for v, count in hist.items():
            if v < 2 * expected:
                continue
            m = v - expected
            while m > expected:
                corrected[m] += count
                total += count
                m -= expected
    p999 = pct(hist, n, 99.9) / 1000
    slow = sum(c for v, c in hist.items() if v > 10_000)
    print(f"{raw[0]:.3f} {raw[1]:.3f} {raw[2]:.3f} {n} {pct(corrected, total, 99) / 1000:.3f} {p999:.3f} {slow}")


if __name__ == "__main__":
    main()
