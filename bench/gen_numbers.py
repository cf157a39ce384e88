#!/usr/bin/env python3
"""Generate the benchmark data set: N distinct phone numbers, valid per libphonenumber.

Numbers are made by counting up from libphonenumber's own example numbers (fixed line,
mobile, toll free) of 12 countries, keeping only those that `phonenumbers.is_valid_number`
accepts. Deterministic: same N, same files.

Writes, into OUT_DIR (default bench/out):
  numbers.csv       header `number`, one E.164 number a line      (for import / \\copy)
  numbers.txt       the same numbers, no header                    (for classify)
  expected.csv      number,country,type as Python phonenumbers classifies them (for the
                    agreement check of `didhub numbers classify`; not timed)
  prefixes.txt      100 number prefixes for the list benchmark, of several lengths, each
                    the start of at least one number of the set

Usage: gen_numbers.py [--count N] [--out DIR]
"""

import argparse
import os
import random

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

COUNTRIES = ["GB", "US", "DE", "FR", "IT", "ES", "NL", "BE", "AT", "CH", "SE", "AU"]
TYPES = [
    (PhoneNumberType.FIXED_LINE, 5),  # weight: landlines are most of a DID inventory
    (PhoneNumberType.MOBILE, 3),
    (PhoneNumberType.TOLL_FREE, 2),
]
TYPE_NAMES = {
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal_number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
    PhoneNumberType.UNKNOWN: "unknown",
}
# Give up on a stream after this many invalid candidates in a row, and jump elsewhere.
MAX_MISSES = 2000


def stream(region, ptype, seen, rng):
    """Valid numbers counting up from the example; jumps forward when a block runs dry."""
    ex = phonenumbers.example_number_for_type(region, ptype)
    if ex is None:
        return
    cc = ex.country_code
    nsn = phonenumbers.national_significant_number(ex)
    width = len(nsn)
    value = int(nsn)
    misses = 0
    jumps = 0
    while jumps < 50:
        value += 1
        digits = str(value).zfill(width)
        if len(digits) != width:
            return
        e164 = f"+{cc}{digits}"
        if e164 in seen:
            continue
        n = phonenumbers.parse(e164, None)
        if not phonenumbers.is_valid_number(n) or phonenumbers.format_number(
            n, PhoneNumberFormat.E164
        ) != e164:
            misses += 1
            if misses >= MAX_MISSES:
                # Jump to another block of the same leading digits.
                value += rng.randrange(10 ** (width - 4), 10 ** (width - 3))
                misses = 0
                jumps += 1
            continue
        misses = 0
        back = n
        yield e164, phonenumbers.region_code_for_number(back), TYPE_NAMES[
            phonenumbers.number_type(back)
        ]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "out"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = random.Random(20240601)

    streams = [(r, t, w) for r in COUNTRIES for t, w in TYPES]
    total_w = sum(w for _, _, w in streams)
    seen = set()
    rows = []
    for region, ptype, w in streams:
        quota = args.count * w // total_w
        got = 0
        for row in stream(region, ptype, seen, rng):
            seen.add(row[0])
            rows.append(row)
            got += 1
            if got >= quota:
                break
    # Top up from the streams that had room (quotas round down; some streams run dry).
    for region, ptype, _ in streams:
        if len(rows) >= args.count:
            break
        for row in stream(region, ptype, seen, rng):
            seen.add(row[0])
            rows.append(row)
            if len(rows) >= args.count:
                break
    if len(rows) < args.count:
        raise SystemExit(f"only {len(rows)} valid numbers found")
    rows = rows[: args.count]
    # Shuffle: an import file is not sorted, and a sorted one would flatter the index build.
    rng.shuffle(rows)

    with open(os.path.join(args.out, "numbers.csv"), "w") as f:
        f.write("number\n")
        f.writelines(r[0] + "\n" for r in rows)
    with open(os.path.join(args.out, "numbers.txt"), "w") as f:
        f.writelines(r[0] + "\n" for r in rows)
    with open(os.path.join(args.out, "expected.csv"), "w") as f:
        f.write("number,country,type\n")
        f.writelines(f"{a},{b},{c}\n" for a, b, c in rows)

    # Prefixes for the list benchmark: from random numbers of the set, cut to 3..9 digits
    # after the '+', so some match a whole country and some a few numbers.
    prefixes = []
    sample = rng.sample(rows, 100)
    for i, (num, _, _) in enumerate(sample):
        keep = 3 + (i % 7)
        prefixes.append(num[: 1 + keep])
    with open(os.path.join(args.out, "prefixes.txt"), "w") as f:
        f.writelines(p + "\n" for p in prefixes)

    by_country = {}
    by_type = {}
    for _, c, t in rows:
        by_country[c] = by_country.get(c, 0) + 1
        by_type[t] = by_type.get(t, 0) + 1
    print(f"wrote {len(rows)} numbers to {args.out}")
    print("countries:", dict(sorted(by_country.items())))
    print("types:", dict(sorted(by_type.items())))


if __name__ == "__main__":
    main()
