#!/usr/bin/env python3
"""Latency percentiles of pgbench per-transaction logs.

usage: percentiles.py LOGFILE...
pgbench --log writes one line per transaction: client_id transaction_no time script_no
time_epoch time_us [schedule_lag]; `time` is the latency in microseconds. Prints
`count=N tps_window=S p50=.. p90=.. p99=.. p999=.. max=..` (milliseconds, 3 decimals).
"""

import math
import sys


def pct(sorted_vals, p):
    # Nearest-rank, as wrk's and HdrHistogram's percentiles are.
    if not sorted_vals:
        return float("nan")
    k = max(0, math.ceil(p / 100 * len(sorted_vals)) - 1)
    return sorted_vals[k]


def main():
    lat = []
    t_min, t_max = None, None
    for path in sys.argv[1:]:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) < 6:
                    continue
                lat.append(int(parts[2]))
                t = int(parts[4]) + int(parts[5]) / 1e6
                t_min = t if t_min is None else min(t_min, t)
                t_max = t if t_max is None else max(t_max, t)
    lat.sort()
    ms = lambda us: f"{us / 1000:.3f}"
    window = (t_max - t_min) if lat else 0
    print(
        f"count={len(lat)} window_s={window:.1f} p50={ms(pct(lat, 50))} p90={ms(pct(lat, 90))} "
        f"p99={ms(pct(lat, 99))} p999={ms(pct(lat, 99.9))} max={ms(lat[-1] if lat else 0)}"
    )


if __name__ == "__main__":
    main()
