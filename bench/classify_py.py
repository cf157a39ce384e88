#!/usr/bin/env python3
"""Baseline for `didhub numbers classify`: Python phonenumbers on the same numbers.

For every line of FILE: phonenumbers.parse (no default country: the numbers are E.164),
is_valid_number and number_type; invalid or unparsable lines are counted. Nothing is
written per number (the baseline does the least work that still classifies), and the
counts are printed at the end so the work cannot be skipped.

usage: classify_py.py FILE
"""

import sys

import phonenumbers


def main():
    parse = phonenumbers.parse
    is_valid = phonenumbers.is_valid_number
    number_type = phonenumbers.number_type
    valid = invalid = 0
    types = {}
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            s = line.strip()
            if not s:
                continue
            try:
                n = parse(s, None)
            except phonenumbers.NumberParseException:
                invalid += 1
                continue
            if is_valid(n):
                valid += 1
                t = number_type(n)
                types[t] = types.get(t, 0) + 1
            else:
                invalid += 1
    print(f"valid={valid} invalid={invalid} types={sorted(types.items())}")


if __name__ == "__main__":
    main()
