#!/usr/bin/env python3
"""Hostile XLSX files for bench/import_memory.sh (issue 18, points 1 and 2), written by hand
with the standard library's zipfile (deflated, as spreadsheet programs write them).

    gen_hostile_xlsx.py far OUT.xlsx          header, two numbers, and one cell at XFD1048576
    gen_hostile_xlsx.py notes OUT.xlsx [ROWS] ROWS rows (default 300000) of one number
                                              repeated, each with the same 3,000-character
                                              note (a shared string)
"""
import sys
import zipfile

NS = "http://schemas.openxmlformats.org"


def workbook(path, dimension, rows, shared=None):
    types = (
        f'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="{NS}/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        "</Types>"
    )
    rels = (
        f'<Relationships xmlns="{NS}/package/2006/relationships"><Relationship Id="rId1" '
        f'Type="{NS}/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    )
    wb = (
        f'<workbook xmlns="{NS}/spreadsheetml/2006/main" xmlns:r="{NS}/officeDocument/2006/relationships">'
        '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    wb_rels = (
        f'<Relationships xmlns="{NS}/package/2006/relationships"><Relationship Id="rId1" '
        f'Type="{NS}/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", types)
        z.writestr("_rels/.rels", rels)
        z.writestr("xl/workbook.xml", wb)
        z.writestr("xl/_rels/workbook.xml.rels", wb_rels)
        if shared is not None:
            sst = "".join(f"<si><t>{s}</t></si>" for s in shared)
            z.writestr(
                "xl/sharedStrings.xml",
                f'<sst xmlns="{NS}/spreadsheetml/2006/main" count="{len(shared)}" uniqueCount="{len(shared)}">{sst}</sst>',
            )
        with z.open("xl/worksheets/sheet1.xml", "w") as f:
            f.write(
                f'<worksheet xmlns="{NS}/spreadsheetml/2006/main"><dimension ref="{dimension}"/><sheetData>'.encode()
            )
            for chunk in rows:
                f.write(chunk.encode())
            f.write(b"</sheetData></worksheet>")


def text(ref, s):
    return f'<c r="{ref}" t="inlineStr"><is><t>{s}</t></is></c>'


def far(path):
    rows = [
        f'<row r="1">{text("A1", "number")}</row>',
        '<row r="2"><c r="A2"><v>442079460100</v></c></row>',
        '<row r="3"><c r="A3"><v>442079460101</v></c></row>',
        f'<row r="1048576">{text("XFD1048576", "far")}</row>',
    ]
    workbook(path, "A1:XFD1048576", rows)


def notes(path, n):
    # Shared strings 0 and 1: the headers; 2: the note.
    shared = ["number", "notes", "N" * 3000]

    def rows():
        yield '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>'
        batch = []
        for r in range(2, n + 2):
            batch.append(f'<row r="{r}"><c r="A{r}"><v>442079460100</v></c><c r="B{r}" t="s"><v>2</v></c></row>')
            if len(batch) == 10000:
                yield "".join(batch)
                batch = []
        yield "".join(batch)

    workbook(path, f"A1:B{n + 1}", rows(), shared)


if __name__ == "__main__":
    kind, out = sys.argv[1], sys.argv[2]
    if kind == "far":
        far(out)
    elif kind == "notes":
        notes(out, int(sys.argv[3]) if len(sys.argv) > 3 else 300000)
    else:
        sys.exit(__doc__)
