import sys, json, os
from babel.messages.pofile import read_po, write_po
from babel.messages.extract import extract_from_dir
from babel.messages.catalog import Catalog
new = json.load(open(sys.argv[1], encoding='utf-8'))
po_path = 'web/translations/zh/LC_MESSAGES/messages.po'
with open(po_path,'rb') as f: old = read_po(f, locale='zh')
known = {m.id: m.string for m in old if m.id and m.string}
known.update(new)
cat = Catalog(locale='zh', project='supervision-platform', charset='utf-8', fuzzy=False)
KW = {"N_": None, "_": None, "gettext": None, "lazy_gettext": None}
for sub in ('engine','web','forms'):
    if not os.path.isdir(sub): continue
    for fn, line, msg, comments, ctx in extract_from_dir(sub, [("**.py","python"),("**/templates/**.html","jinja2")], keywords=KW):
        mid = msg if isinstance(msg,str) else msg[0]
        cat.add(mid, string=known.get(mid, ''), locations=[(os.path.join(sub, fn), line)])
missing = [m.id for m in cat if m.id and not m.string]
with open(po_path,'wb') as f: write_po(f, cat, width=120, omit_header=False)
print('missing', missing)
