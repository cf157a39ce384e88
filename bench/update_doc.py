#!/usr/bin/env python3
"""Put a results fragment into docs/PERFORMANCE.md.

usage: update_doc.py DOC NAME FRAGMENT

The fragment replaces whatever is between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`;
when the markers are not there yet, the section is appended at the end of the document.
Only results land here; what a pass found is written by hand into bench/JOURNAL.md.
"""

import os
import sys


def main():
    doc, name, frag = sys.argv[1:4]
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    with open(frag, encoding="utf-8") as f:
        body = f.read().strip("\n")
    text = ""
    if os.path.exists(doc):
        with open(doc, encoding="utf-8") as f:
            text = f.read()
    block = f"{start}\n{body}\n{end}"
    i, j = text.find(start), text.find(end)
    if i >= 0 and j > i:
        text = text[:i] + block + text[j + len(end):]
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + block + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(doc)), exist_ok=True)
    with open(doc, "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
