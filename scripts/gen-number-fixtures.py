#!/usr/bin/env python3
"""Generate libphonenumber example-number fixtures for didhub-core's number tests.

Writes two fixtures under crates/didhub-core/tests/fixtures/.

libphonenumber_examples.csv: for every country
named in the reference documents (seeds/classound-activation-request.txt: the countries
where new DIDs, mobile DIDs or porting are offered, plus GB and US) and every number type
that Google's libphonenumber has an example number for in that country, the example
number and libphonenumber's own classification of it. Each example is written three ways,
so that parsing is tested as well as classification:

  * the E.164 form                      (input "+4319876543",     default_country "")
  * the INTERNATIONAL format            (input "+43 1 9876543",   default_country "")
  * the NATIONAL format with its country (input "01 9876543",      default_country "AT")

Columns: country,type,e164,expected_country,expected_type,input,default_country
  country          ISO 3166 alpha-2 region the example was asked for
  type             the type the example was asked for (didhub's snake_case name)
  e164             the example number, E.164
  expected_country phonenumbers.region_code_for_number() of the example; usually equal to
                   `country`, but NANPA toll-free/premium numbers (+1 800, +1 900) are
                   non-geographic and libphonenumber gives them to US even for CA
  expected_type    phonenumbers.number_type() of the example, snake_case; usually equal
                   to `type`, but e.g. a fixed-line example can be FIXED_LINE_OR_MOBILE
                   where the two patterns overlap (US, CA ...)
  input            the written form to parse
  default_country  the country to parse `input` with; empty for international forms

libphonenumber_idd.csv: numbers written with an international prefix (IDD) and parsed with
a default country, where libphonenumber reads the prefix with that country's own
international-prefix pattern: `00` is international in GB, FR, DE ..., but not in the US and
Canada (`011`) nor in Brazil and Colombia (`00` plus a carrier code: `0014`, `005` ...), where
it is read as part of a national number. For every country above as the default, a few example
numbers of other countries (TARGETS) are written after each prefix of IDD_PREFIXES, and
after the carrier prefixes of CARRIER_IDD for that country, then parsed by libphonenumber.

Columns: default_country,input,outcome,e164,expected_country,expected_type
  default_country  the country to parse `input` with
  input            the written form, e.g. "011 44 121 234 5678"
  outcome          valid   - parses to a valid number (e164, expected_country, expected_type)
                   invalid - parses, but to no valid number (e164 is what it parses to)
                   error   - libphonenumber refuses to parse it (other columns empty)
  e164, expected_country, expected_type: as in the first fixture

The metadata version matters: rlibphonenumber (the Rust engine didhub-core wraps) embeds a
fixed libphonenumber metadata release, so the Python package is pinned to the same
release. rlibphonenumber 2.2.15 states "Used metadata version: v9.0.42" in its Readme;
phonenumbers 9.0.42 carries that metadata. When rlibphonenumber is upgraded, bump
PHONENUMBERS_VERSION to its metadata version and rerun.

How to rerun (from the repository root):

    python3 -m venv /tmp/pn && /tmp/pn/bin/pip install phonenumbers==9.0.42
    /tmp/pn/bin/python scripts/gen-number-fixtures.py

The output is deterministic: countries and types are iterated in fixed order and nothing
depends on time or randomness. The script refuses to run with any other phonenumbers
version (pass --any-version to override, e.g. to look at metadata drift).
"""

import csv
import io
import os
import sys

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

PHONENUMBERS_VERSION = "9.0.42"

# Countries named in /work/shared/seeds/classound-activation-request.txt (new DIDs, mobile
# DIDs, porting LOAs), in ISO 3166 alpha-2. "UK" there is GB, "USA" is US, "UAE" is AE.
COUNTRIES = [
    "AE",  # UAE
    "AT",  # Austria
    "BE",  # Belgium
    "BR",  # Brazil (mobile DIDs)
    "CA",  # Canada
    "CH",  # Switzerland
    "CO",  # Colombia (mobile DIDs)
    "CZ",  # Czech Republic
    "DE",  # Germany
    "DK",  # Denmark
    "EE",  # Estonia
    "ES",  # Spain
    "FI",  # Finland
    "FR",  # France
    "GB",  # United Kingdom
    "HR",  # Croatia
    "IE",  # Ireland
    "IT",  # Italy
    "LU",  # Luxembourg (porting)
    "MX",  # Mexico (porting)
    "NL",  # Netherlands
    "NO",  # Norway
    "PL",  # Poland
    "PT",  # Portugal
    "RO",  # Romania
    "SA",  # Saudi Arabia
    "SE",  # Sweden
    "SI",  # Slovenia
    "SK",  # Slovakia
    "TR",  # Turkey
    "US",  # USA
]

# libphonenumber's types with didhub's names (didhub_core::number::NumberType), in the
# order of libphonenumber's enum. FIXED_LINE_OR_MOBILE has no example of its own
# (libphonenumber answers with the fixed-line example) and UNKNOWN has none at all, so
# they are not asked for; both can still appear as expected_type.
TYPES = [
    (PhoneNumberType.FIXED_LINE, "fixed_line"),
    (PhoneNumberType.MOBILE, "mobile"),
    (PhoneNumberType.TOLL_FREE, "toll_free"),
    (PhoneNumberType.PREMIUM_RATE, "premium_rate"),
    (PhoneNumberType.SHARED_COST, "shared_cost"),
    (PhoneNumberType.VOIP, "voip"),
    (PhoneNumberType.PERSONAL_NUMBER, "personal_number"),
    (PhoneNumberType.PAGER, "pager"),
    (PhoneNumberType.UAN, "uan"),
    (PhoneNumberType.VOICEMAIL, "voicemail"),
]

TYPE_NAMES = dict(TYPES)
TYPE_NAMES[PhoneNumberType.FIXED_LINE_OR_MOBILE] = "fixed_line_or_mobile"
TYPE_NAMES[PhoneNumberType.UNKNOWN] = "unknown"

# International prefixes tried with every default country: the two in wide use. Where the
# country's pattern does not match, libphonenumber reads them as the start of a national number.
IDD_PREFIXES = ["00", "011"]

# Countries whose international prefix carries a carrier code (libphonenumber's pattern:
# BR 00(?:1[245]|2[1-35]|31|4[13]|[56]5|99), CO 00(?:4(?:[14]4|56)|[579])), with some written
# forms: the carrier codes, and near misses that the pattern does not take.
CARRIER_IDD = {
    "BR": ["0012", "0014", "0021", "0031", "0099", "0016", "0034"],
    "CO": ["005", "007", "009", "00414", "00456", "00444", "003", "00445"],
}

# Numbers dialled abroad: (region, type) of libphonenumber's example numbers.
TARGETS = [
    ("GB", PhoneNumberType.FIXED_LINE),
    ("US", PhoneNumberType.FIXED_LINE),
    ("DE", PhoneNumberType.FIXED_LINE),
    ("FR", PhoneNumberType.FIXED_LINE),
    ("BR", PhoneNumberType.MOBILE),
    ("CO", PhoneNumberType.MOBILE),
]

FIXTURES = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "crates", "didhub-core", "tests", "fixtures"
)
OUT = os.path.join(FIXTURES, "libphonenumber_examples.csv")
OUT_IDD = os.path.join(FIXTURES, "libphonenumber_idd.csv")


def rows():
    for region in COUNTRIES:
        for t, type_name in TYPES:
            example = phonenumbers.example_number_for_type(region, t)
            if example is None:
                continue
            e164 = phonenumbers.format_number(example, PhoneNumberFormat.E164)
            # The fixtures state what libphonenumber itself says; check it agrees with itself.
            if not phonenumbers.is_valid_number(example):
                sys.exit(f"{region} {type_name} example {e164} is not valid")
            # Usually the region asked for; not always: NANPA toll-free and premium numbers
            # are non-geographic and libphonenumber assigns them to the first region of +1, US.
            owner = phonenumbers.region_code_for_number(example)
            expected = TYPE_NAMES[phonenumbers.number_type(example)]
            variants = [
                (e164, ""),
                (phonenumbers.format_number(example, PhoneNumberFormat.INTERNATIONAL), ""),
                (phonenumbers.format_number(example, PhoneNumberFormat.NATIONAL), region),
            ]
            for written, default in variants:
                back = phonenumbers.parse(written, default or None)
                if phonenumbers.format_number(back, PhoneNumberFormat.E164) != e164:
                    sys.exit(f"{written!r} ({default}) does not parse back to {e164}")
                yield [region, type_name, e164, owner, expected, written, default]


def idd_rows():
    for region in COUNTRIES:
        prefixes = IDD_PREFIXES + [p for p in CARRIER_IDD.get(region, []) if p not in IDD_PREFIXES]
        for prefix in prefixes:
            for target, t in TARGETS:
                example = phonenumbers.example_number_for_type(target, t)
                if example is None:
                    sys.exit(f"no {t} example for {target}")
                intl = phonenumbers.format_number(example, PhoneNumberFormat.INTERNATIONAL)
                written = f"{prefix} {intl.lstrip('+')}"
                try:
                    n = phonenumbers.parse(written, region)
                except phonenumbers.NumberParseException:
                    yield [region, written, "error", "", "", ""]
                    continue
                e164 = phonenumbers.format_number(n, PhoneNumberFormat.E164)
                if phonenumbers.is_valid_number(n):
                    owner = phonenumbers.region_code_for_number(n)
                    expected = TYPE_NAMES[phonenumbers.number_type(n)]
                    yield [region, written, "valid", e164, owner, expected]
                else:
                    yield [region, written, "invalid", e164, "", ""]


def write(path, header, rows):
    buf = io.StringIO()
    buf.write(
        f"# Generated by scripts/gen-number-fixtures.py from phonenumbers "
        f"{phonenumbers.__version__} (libphonenumber metadata). Do not edit; rerun the script.\n"
    )
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    n = 0
    for r in rows:
        w.writerow(r)
        n += 1
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(buf.getvalue())
    print(f"wrote {n} rows to {os.path.relpath(path)}")


def main():
    if phonenumbers.__version__ != PHONENUMBERS_VERSION and "--any-version" not in sys.argv:
        sys.exit(
            f"phonenumbers {phonenumbers.__version__} installed, fixtures are pinned to "
            f"{PHONENUMBERS_VERSION} (rlibphonenumber's metadata); see the top of this script"
        )
    write(
        OUT,
        ["country", "type", "e164", "expected_country", "expected_type", "input", "default_country"],
        rows(),
    )
    write(
        OUT_IDD,
        ["default_country", "input", "outcome", "e164", "expected_country", "expected_type"],
        idd_rows(),
    )


if __name__ == "__main__":
    main()
