#!/usr/bin/python3
"""rules TRG-1..4 on real documents: tools/make-scan-corpus has LibreOffice make docx/doc/odt/rtf/
pdf, xlsx/xls/ods, pptx/ppt/odp with triggers in bodies, split runs, headers, footers, footnotes,
comments, tables, sheet names, slides and notes; zip and qpdf make encrypted containers; messages
carry them in base64, with encoded, folded and QP-broken text. `seegw scan --json` must classify
every file as the manifest says and name where each hit was."""
import json
import os
import subprocess
import sys

from harness import BUILD, Workdir, check, run_tests

SEEGW = os.path.join(BUILD, "dataplane", "main", "seegw")
MAKE_CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "make-scan-corpus")
CORPUS = {}


def corpus():
    if not CORPUS and os.path.exists(os.path.join(os.environ.get("SEEGW_SCAN_CORPUS", "/nonexistent"), "expected.json")):
        out = os.environ["SEEGW_SCAN_CORPUS"]  # made by the ctest fixture corpus.scan
        with open(os.path.join(out, "expected.json")) as f:
            CORPUS.update(dir=out, expected=json.load(f), workdir=None)
    if not CORPUS:
        w = Workdir("scan-corpus")
        out = os.path.join(w.path, "corpus")
        subprocess.run(["/usr/bin/python3", MAKE_CORPUS, out], check=True, timeout=900)
        with open(os.path.join(out, "expected.json")) as f:
            CORPUS.update(dir=out, expected=json.load(f), workdir=w)
    return CORPUS


def scan(*files):
    r = subprocess.run([SEEGW, "scan", "--json", *files], capture_output=True, text=True, timeout=300)
    check(r.returncode == 0, f"seegw scan exited {r.returncode}: {r.stderr}")
    return [json.loads(line) for line in r.stdout.splitlines()]


def test_every_document_and_message_classifies_as_expected():
    c = corpus()
    names = sorted(c["expected"])
    results = scan(*(os.path.join(c["dir"], n) for n in names))
    check(len(results) == len(names), "one JSON object per file")
    wrong = []
    for name, r in zip(names, results):
        want = c["expected"][name]
        level, _, flag = want.partition("+")
        if r["classification"] != level or bool(r["uninspectable"]) != (flag == "uninspectable"):
            wrong.append(f"{name}: want {want}, got {r['classification']} {r['uninspectable']}")
        for h in r["hits"]:
            check(h["where"] and h["offset"] >= 0 and h["trigger"], h)
    check(not wrong, "\n".join(wrong))
    print(f"  {len(names)} files classified as expected")


def test_hits_say_where_they_were():
    c = corpus()
    expectations = {
        "w_header.docx": "word/header", "w_footer.docx": "word/footer", "w_footnote.docx": "word/footnotes.xml",
        "w_comment.docx": "word/comments.xml", "c_sheet_name.xlsx": "xl/workbook.xml",
        "c_comment.xlsx": "xl/comments", "i_notes.pptx": "ppt/notesSlides/", "i_slide_split.pptx": "ppt/slides/",
        "w_split_runs.pdf": "page 1", "w_footnote.doc": "WordDocument", "c_cell.xls": "Workbook",
        "i_slide_split.ppt": "PowerPoint Document",
        "m_docx_attachment.eml": "attachment 'report.docx' (part 2) > word/document.xml",
        "m_zip_attachment.eml": "attachment 'bundle.zip' (part 2) > a_docs.zip > w_header.docx > word/header",
        "m_encoded_subject.eml": "Subject", "m_nested_message.eml": "Subject",
        # TRG-5: where people also type — PDF annotations, invitations, a signed user's attachments.
        "p_annotation.pdf": "annotations, form fields and other strings",
        "m_calendar_folded.eml": "body (text/calendar)",
        "m_smime_signed_opaque.eml": "signed content > attachment 'notes.txt'",
    }
    results = scan(*(os.path.join(c["dir"], n) for n in expectations))
    for (name, where), r in zip(expectations.items(), results):
        check(any(where in h["where"] for h in r["hits"]), f"{name}: no hit in '{where}': {r['hits']}")
    split = scan(os.path.join(c["dir"], "w_split_runs.docx"))[0]
    check(split["hits"][0]["text"] == "[RESTRICTED]", split["hits"])


def test_uninspectable_parts_have_reasons():
    c = corpus()
    for name, needle in (("a_encrypted.zip", "encrypted archive entry"), ("p_encrypted.pdf", "encrypted"),
                         ("m_encrypted_zip.eml", "encrypted archive entry"), ("m_smime_encrypted.eml", "S/MIME"),
                         ("o_encrypted.docx", "password-protected (encrypted) Office document"),
                         ("w_split_runs_encrypted.doc", "encrypted) Word document"),
                         ("c_cell_encrypted.xls", "encrypted) Excel workbook"),
                         ("w_split_runs_encrypted.odt", "password-protected (encrypted) OpenDocument")):
        r = scan(os.path.join(c["dir"], name))[0]
        check(any(needle in u["reason"] for u in r["uninspectable"]), f"{name}: {r['uninspectable']}")
        check(r["classification"] == "NONE", "uninspectable is not a classification by itself")


def test_text_output_and_exit_status():
    c = corpus()
    r = subprocess.run([SEEGW, "scan", os.path.join(c["dir"], "m_docx_attachment.eml")],
                       capture_output=True, text=True)
    check(r.returncode == 0 and ": RESTRICTED" in r.stdout and "hit RESTRICTED in attachment" in r.stdout, r.stdout)
    r = subprocess.run([SEEGW, "scan", "/nonexistent/file.eml"], capture_output=True, text=True)
    check(r.returncode == 2 and "cannot read" in r.stderr, (r.returncode, r.stderr))
    r = subprocess.run([SEEGW, "scan"], capture_output=True, text=True)
    check(r.returncode == 2 and "usage" in r.stderr, r.stderr)
    r = subprocess.run([SEEGW, "frobnicate"], capture_output=True, text=True)
    check(r.returncode == 2, r.returncode)


if __name__ == "__main__":
    try:
        run_tests([test_every_document_and_message_classifies_as_expected,
                   test_hits_say_where_they_were,
                   test_uninspectable_parts_have_reasons,
                   test_text_output_and_exit_status])
    finally:
        if CORPUS.get("workdir"):
            CORPUS["workdir"].remove()
