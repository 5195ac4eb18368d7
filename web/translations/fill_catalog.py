"""Rebuild the Simplified Chinese catalog from the source: every message id found in engine/, web/ and
forms/ keeps its translation from the current .po; new translations come from the JSON files given on the
command line (or web/translations/zh_*.json). Prints the ids still untranslated. Then `make translations`.

    python web/translations/fill_catalog.py [new_translations.json ...]
"""
import glob
import json
import os
import sys

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PO = os.path.join(HERE, "zh", "LC_MESSAGES", "messages.po")
KEYWORDS = {"N_": None, "_": None, "gettext": None, "lazy_gettext": None, "ngettext": (1, 2)}


def main(sources: list[str]) -> int:
    with open(PO, "rb") as fh:
        known = {}
        for m in read_po(fh, locale="zh"):
            if m.id and m.string:
                key = m.id if isinstance(m.id, str) else m.id[0]
                known[key] = m.string if isinstance(m.string, str) else m.string[0]
    for path in sources or sorted(glob.glob(os.path.join(HERE, "zh_*.json"))):
        with open(path, encoding="utf-8") as fh:
            known.update(json.load(fh))
    catalog = Catalog(locale="zh", project="supervision-platform", charset="utf-8", fuzzy=False)
    for sub in ("engine", "web", "forms"):
        base = os.path.join(ROOT, sub)
        for filename, line, message, _c, _x in extract_from_dir(
                base, [("**.py", "python"), ("**/templates/**.html", "jinja2")], keywords=KEYWORDS):
            if isinstance(message, str):
                catalog.add(message, string=known.get(message, ""), locations=[(os.path.join(sub, filename), line)])
            else:                                 # ngettext: Chinese has one form, keyed by the singular
                catalog.add(tuple(message[:2]), string=(known.get(message[0], ""),),
                            locations=[(os.path.join(sub, filename), line)])
    with open(PO, "wb") as fh:
        write_po(fh, catalog, width=120)
    missing = [m.id for m in catalog if m.id and not (m.string if isinstance(m.string, str) else m.string[0])]
    print("untranslated:", json.dumps(missing, ensure_ascii=False))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
