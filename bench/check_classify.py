#!/usr/bin/env python3
"""Agreement of `didhub numbers classify` output with Python phonenumbers (untimed).

usage: check_classify.py EXPECTED_CSV DIDHUB_JSONL
EXPECTED_CSV is bench/out/expected.csv (number,country,type from phonenumbers, written by
gen_numbers.py). Prints `checked=N mismatches=M` and up to 10 examples.
"""

import csv
import json
import sys


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        expected = {r["number"]: (r["country"], r["type"]) for r in csv.DictReader(f)}
    checked = mismatches = 0
    examples = []
    with open(sys.argv[2], encoding="utf-8") as f:
        for line in f:
            o = json.loads(line)
            want = expected.get(o["input"])
            if want is None:
                continue
            checked += 1
            got = (o.get("country"), o.get("type")) if o.get("valid") else ("invalid", o.get("error"))
            if got != want:
                mismatches += 1
                if len(examples) < 10:
                    examples.append(f"{o['input']}: phonenumbers {want}, didhub {got}")
    print(f"checked={checked} mismatches={mismatches}")
    for e in examples:
        print("  " + e)


if __name__ == "__main__":
    main()
