#!/usr/bin/env python3
"""Generate the business identifier fixtures for didhub-core's `ids` tests.

Writes crates/didhub-core/tests/core/data/ids_fixtures.jsonl: python-stdnum's own answer for
many written forms of each identifier that `didhub ids check` knows and python-stdnum has a
module for, so that the test can hold didhub's rules to python-stdnum's without Python.

The first line names the generator and the python-stdnum version. Every other line is
    {"country","kind","input","valid","compact","error"}
  valid    stdnum's is_valid(input)
  compact  stdnum's compact(input) when valid, else null
  error    null when valid, else the class of the exception validate() raised:
           "InvalidFormat", "InvalidLength" or "InvalidChecksum"

The inputs: valid numbers made by completing random bodies with every possible check
character (stdnum says which completion is valid), then written with separators, a country
prefix, lower case, surrounding whitespace and Unicode look-alikes of digits, dashes, dots and
spaces; single-character mutations, transpositions, deletions and insertions of those; wrong
lengths, letters in wrong places, and random strings. No input holds a line break: the
command reads one value a line.

NL kvk is not here: python-stdnum has no module for the KvK number.

Run it with python-stdnum installed (python3 -m venv /tmp/stdnum-venv &&
/tmp/stdnum-venv/bin/pip install python-stdnum):
    /tmp/stdnum-venv/bin/python scripts/gen-ids-fixtures.py
The output is deterministic for a given python-stdnum version (fixed random seed).
"""

import importlib.metadata
import json
import os
import random
import string

from stdnum import exceptions
from stdnum.es import nif as es_nif
from stdnum.fr import siren as fr_siren
from stdnum.fr import siret as fr_siret
from stdnum.no import orgnr as no_orgnr
from stdnum.pt import nif as pt_nif
from stdnum.tr import tckimlik as tr_tckn
from stdnum.tr import vkn as tr_vkn

OUT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    "..", "crates", "didhub-core", "tests", "core", "data", "ids_fixtures.jsonl",
)

rng = random.Random(19)
DIGITS = string.digits
LETTERS = string.ascii_uppercase

# Unicode forms that python-stdnum reads as ASCII (and some it does not), to see both sides.
UNICODE_DASHES = ["\u2010", "\u2013", "\u2014", "\u2212", "\uff0d", "\u1680", "\u00af"]
UNICODE_DOTS = ["\u00b7", "\u2022", "\u3002", "\uff0e", "\u2024"]
UNICODE_SPACES = ["\u00a0", "\u2003", "\u2009", "\u202f", "\u3000"]
WHITESPACE = [" ", "  ", "\t", "\u00a0", "\u2003", "\x0b", "\x0c", "\x1c", "\x85", "\u3000"]
OTHER_SEPARATORS = ["/", ",", ":", "_", "'", "*", "\u2044", "\uff0f"]


def fullwidth(s):
    """Digits as FULLWIDTH DIGIT and mathematical digits, one style per call."""
    base = rng.choice([0xFF10, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x0660])
    return "".join(chr(base + int(c)) if c in DIGITS and rng.random() < 0.6 else c for c in s)


def rand_digits(n, first_nonzero=False):
    s = "".join(rng.choice(DIGITS) for _ in range(n))
    if first_nonzero and n:
        s = rng.choice("123456789") + s[1:]
    return s


def complete(module, body, alphabet=DIGITS, n=1):
    """Every completion of body by n check characters that the module accepts."""
    out = []
    if n == 1:
        cands = [body + c for c in alphabet]
    else:
        cands = [body + a + b for a in alphabet for b in alphabet]
    for c in cands:
        if module.is_valid(c):
            out.append(c)
    return out


def valid_siren():
    while True:
        v = complete(fr_siren, rand_digits(8))
        if v:
            return v[0]


def valid_siret():
    while True:
        v = complete(fr_siret, valid_siren() + rand_digits(4))
        if v:
            return v[0]


def la_poste_siret():
    while True:
        v = complete(fr_siret, "356000000" + rand_digits(4))
        if v:
            return rng.choice(v)


def valid_dni():
    v = complete(es_nif, rand_digits(8), LETTERS)
    return v[0]


def valid_nie():
    v = complete(es_nif, rng.choice("XYZ") + rand_digits(7), LETTERS)
    return v[0]


def valid_klm():
    v = complete(es_nif, rng.choice("KLM") + rand_digits(7), LETTERS)
    return v[0]


def valid_cif():
    v = complete(es_nif, rng.choice("ABCDEFGHJNPQRSUVW") + rand_digits(7), DIGITS + LETTERS)
    return rng.choice(v)


def valid_orgnr():
    while True:
        v = complete(no_orgnr, rand_digits(8))
        if v:
            return v[0]


def valid_pt():
    return complete(pt_nif, rand_digits(8, first_nonzero=True))[0]


def valid_vkn():
    return complete(tr_vkn, rand_digits(9))[0]


def valid_tckn():
    return complete(tr_tckn, rand_digits(9, first_nonzero=True), n=2)[0]


def groups(s, sizes):
    out, i = [], 0
    for n in sizes:
        if i >= len(s):
            break
        out.append(s[i:i + n])
        i += n
    if i < len(s):
        out.append(s[i:])
    return out


def separated(s):
    """s cut into groups joined by one separator, or by a mix of them."""
    sizes = rng.choice([[3, 3, 3, 5], [1, 7, 1], [2, 2, 2, 2, 2, 2], [4, 4, 4], [1, 2, 3, 4, 5]])
    parts = groups(s, sizes)
    sep_pool = [" ", ".", "-", "/", " - ", ". "] + UNICODE_DASHES + UNICODE_DOTS + UNICODE_SPACES
    if rng.random() < 0.7:
        sep = rng.choice(sep_pool)
        return sep.join(parts)
    out = parts[0]
    for p in parts[1:]:
        out += rng.choice(sep_pool) + p
    return out


def mutations(s, alphabet):
    """Single-character changes, transpositions, deletions and insertions of s."""
    out = []
    if not s:
        return out
    for _ in range(4):
        i = rng.randrange(len(s))
        c = rng.choice(alphabet)
        if c != s[i]:
            out.append(s[:i] + c + s[i + 1:])
    if len(s) > 1:
        i = rng.randrange(len(s) - 1)
        out.append(s[:i] + s[i + 1] + s[i] + s[i + 2:])
    i = rng.randrange(len(s))
    out.append(s[:i] + s[i + 1:])
    i = rng.randrange(len(s) + 1)
    out.append(s[:i] + rng.choice(alphabet) + s[i:])
    i = rng.randrange(len(s) + 1)
    out.append(s[:i] + rng.choice(LETTERS + "abcxyz") + s[i:])
    out.append(s + rng.choice(DIGITS))
    out.append(s[:-1])
    return out


def written_forms(s, prefix=None):
    """s as people write it."""
    out = [s, s.lower(), separated(s), " " + s + " "]
    out.append(rng.choice(WHITESPACE) + s + rng.choice(WHITESPACE))
    out.append(rng.choice(WHITESPACE) + separated(s) + rng.choice(WHITESPACE))
    out.append(fullwidth(s))
    out.append(rng.choice(OTHER_SEPARATORS).join(groups(s, [3, 3, 3, 3])))
    out.append(s[:4] + rng.choice(WHITESPACE[2:]) + s[4:])
    if prefix:
        for p in [prefix, prefix.lower(), prefix + " ", prefix + "-", prefix.capitalize(),
                  " " + prefix + " ", prefix + "\t", prefix + prefix]:
            out.append(p + s)
        out.append(prefix + " " + separated(s).lower())
    else:
        # A country prefix where the kind takes none.
        out.append(rng.choice(["FR", "ES", "NO", "PT", "TR", "NL"]) + s)
    return out


def randoms(n_max, alphabet):
    out = []
    for _ in range(25):
        n = rng.randrange(0, n_max + 1)
        out.append("".join(rng.choice(alphabet) for _ in range(n)))
    return out


def classes(module, s):
    try:
        module.validate(s)
        return True, module.compact(s), None
    except exceptions.ValidationError as e:
        return False, None, type(e).__name__


KINDS = {
    ("FR", "siren"): dict(
        module=fr_siren,
        valid=[valid_siren],
        alphabet=DIGITS,
        extra=["000000000", "404833048", "404833047", "552 008 443", "356000000",
               "732829320", "4048330481", "40483304"],
        prefix=None,
        count=60,
    ),
    ("FR", "siret"): dict(
        module=fr_siret,
        valid=[valid_siret, valid_siret, la_poste_siret],
        alphabet=DIGITS,
        extra=["73282932000074", "732 829 320 00074", "73282932000079", "35600000000048",
               "35600000000049", "35600000000050", "35600000000055", "35600000000011",
               "35600000012345", "35600000049916", "356000000000", "356 000 000 00048",
               "00000000000000", "356000001000018"],
        prefix=None,
        count=60,
    ),
    ("ES", "nif"): dict(
        module=es_nif,
        valid=[valid_dni, valid_nie, valid_klm, valid_cif, valid_cif],
        alphabet=DIGITS + LETTERS,
        extra=["54362315K", "B64717838", "B64717839", "ES B-58378431", "X-5253868-R",
               "M-1234567-L", "x-2482300w", "x-2482300a", "X2482300", "J99216582",
               "J99216583", "J992165831", "O-1234567-L", "I12345678", "T1234567L",
               "ESES54362315K", "ES", "ES ", "E", "54362315", "543623150K", "K1234567L",
               "L1234567A", "00000000T", "X0000000T", "Y0000000Z", "Z0000000M",
               "A13585625", "A1358562E", "B0000000J", "B00000000", "K0000000T",
               "1234567890", "ABCDEFGHI", "B6471783 8", "b64717838", "es54362315k"],
        prefix="ES",
        count=110,
    ),
    ("NO", "orgnr"): dict(
        module=no_orgnr,
        valid=[valid_orgnr],
        alphabet=DIGITS,
        extra=["988 077 917", "988 077 918", "988077917", "988.077.917", "988-077-917",
               "NO988077917", "988077917MVA", "000000000", "98807791"],
        prefix=None,
        count=60,
    ),
    ("PT", "nif"): dict(
        module=pt_nif,
        valid=[valid_pt],
        alphabet=DIGITS,
        extra=["PT 501 964 843", "PT 501 964 842", "501964843", "501.964.843",
               "501-964-843", "pt501964843", "PTPT501964843", "012345678", "000000000",
               "PT", "50196484", "5019648430"],
        prefix="PT",
        count=60,
    ),
    ("TR", "vkn"): dict(
        module=tr_vkn,
        valid=[valid_vkn],
        alphabet=DIGITS,
        extra=["4540536920", "4540536921", "454053692", "454 053 6920", "0000000000",
               "TR4540536920", " 4540536920\t"],
        prefix=None,
        count=60,
    ),
    ("TR", "tckn"): dict(
        module=tr_tckn,
        valid=[valid_tckn],
        alphabet=DIGITS,
        extra=["17291716060", "17291716050", "1729171606", "07291716092",
               "172 917 160 60", "10000000146", "00000000000"],
        prefix=None,
        count=60,
    ),
}


def main():
    lines = [json.dumps({
        "generator": "scripts/gen-ids-fixtures.py",
        "python-stdnum": importlib.metadata.version("python-stdnum"),
    }, separators=(",", ":"))]
    total = 0
    for (country, kind), k in KINDS.items():
        module = k["module"]
        inputs = list(k["extra"])
        inputs += ["", " ", "\t", "-", ".", "0", "00", "abc"]
        for i in range(k["count"]):
            s = k["valid"][i % len(k["valid"])]()
            inputs += written_forms(s, k["prefix"])
            for m in mutations(s, k["alphabet"]):
                inputs.append(m)
                if rng.random() < 0.3:
                    inputs.append(separated(m))
        inputs += randoms(16, DIGITS)
        inputs += randoms(12, DIGITS + LETTERS + " -./")
        seen, rows = set(), []
        for s in inputs:
            if "\n" in s or "\r" in s or s in seen:
                continue
            seen.add(s)
            valid, compact, error = classes(module, s)
            if module.is_valid(s) != valid:
                raise SystemExit(f"is_valid and validate disagree on {s!r}")
            rows.append({"country": country, "kind": kind, "input": s, "valid": valid,
                         "compact": compact, "error": error})
        n_valid = sum(r["valid"] for r in rows)
        print(f"{country} {kind}: {len(rows)} inputs, {n_valid} valid")
        total += len(rows)
        lines += [json.dumps(r, separators=(",", ":")) for r in rows]
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{total} inputs written to {os.path.relpath(OUT)}")


if __name__ == "__main__":
    main()
