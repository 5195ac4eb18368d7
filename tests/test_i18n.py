"""Every user-facing string has a Simplified Chinese translation; Chinese is the default, English on request."""
import os

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = os.path.dirname(os.path.dirname(__file__))
KEYWORDS = {"N_": None, "_": None, "gettext": None, "lazy_gettext": None}


def _extracted() -> set[str]:
    ids = set()
    for sub in ("engine", "web", "forms"):
        base = os.path.join(ROOT, sub)
        if not os.path.isdir(base):
            continue
        method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
        for _file, _line, message, _comments, _ctx in extract_from_dir(base, method_map, keywords=KEYWORDS):
            ids.add(message if isinstance(message, str) else message[0])
    return ids


@pytest.mark.nodb
def test_every_message_has_a_chinese_translation():
    with open(os.path.join(ROOT, "web", "translations", "zh", "LC_MESSAGES", "messages.po"), "rb") as fh:
        catalog = read_po(fh, locale="zh")
    translated = {m.id for m in catalog if m.id and m.string}
    missing = sorted(_extracted() - translated)
    assert missing == [], f"add Chinese translations (make messages) for: {missing}"


def test_api_errors_are_chinese_by_default_and_english_on_request(client):
    resp = client.post("/api/session", json={"username": "nobody", "password": "x"})
    assert resp.get_json()["message"] == "用户名或密码错误"
    resp = client.post("/api/session?lang=en", json={"username": "nobody", "password": "x"})
    assert resp.get_json()["message"] == "Wrong user name or password"


def test_home_page_is_chinese(client):
    page = client.get("/", follow_redirects=True).get_data(as_text=True)
    assert "行政执法协调监督工作平台" in page
