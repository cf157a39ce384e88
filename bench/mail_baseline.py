#!/usr/bin/env python3
"""The outbox benchmark's baseline: N messages to an SMTP server over one connection with
Python's smtplib (MAIL, RCPT, DATA per message, one after another): what the server takes
from one client that does nothing else.

    python3 bench/mail_baseline.py HOST PORT N SAMPLE.eml

SAMPLE.eml is a mail as didhub writes it; each copy gets its own Message-ID.
"""
import re
import smtplib
import sys


def main():
    host, port, n, sample = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    raw = open(sample, "rb").read()
    mid = re.search(rb"^Message-ID: <([^>]*)>", raw, re.M).group(1)
    s = smtplib.SMTP(host, port)
    for i in range(n):
        msg = raw.replace(mid, b"baseline-%d@bench.example" % i, 1)
        s.sendmail("didhub@localhost", ["bench@example.com"], msg)
    s.quit()
    print(n)


if __name__ == "__main__":
    main()
