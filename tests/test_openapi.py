"""The OpenAPI document (issue "Production shape" point 4): generated from the routes and the marshmallow
schemas, covering every route of the JSON API; schemathesis runs against the running app with a signed-in
token and finds no server error and no answer that differs from the document."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import threading

import pytest
from werkzeug.serving import make_server

from web.openapi import api_rules, document

HANDLER = "guan_scjg_handler"


def test_every_api_route_is_described(app):
    spec = document(app)
    described = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert described == {(m, p) for m, p, _ in api_rules(app)}
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert {"401", "403", "404", "422", "503"} <= set(op["responses"]), (method, path)
    assert set(spec["components"]["securitySchemes"]) == {"bearerAuth", "cookieAuth"}


def test_the_document_and_its_page_are_served(client):
    resp = client.get("/api/openapi.json")
    assert resp.status_code == 200 and resp.get_json()["openapi"].startswith("3.")
    page = client.get("/api/docs")
    assert page.status_code == 200 and "swagger-ui-bundle.js" in page.get_data(as_text=True)
    assert client.get("/vendor/swagger-ui-dist/swagger-ui-bundle.js").status_code == 200


def _schemathesis(app, authorization: str, *exclude: str) -> tuple[int, str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    excluded = [arg for path in exclude for arg in ("--exclude-path", path)]
    try:
        result = subprocess.run(
            [os.path.join(os.path.dirname(sys.executable), "st"), "run",      # installed by requirements-test.txt
             f"http://127.0.0.1:{server.server_port}/api/openapi.json", "-H", f"Authorization: {authorization}",
             "--max-examples", "15", "--seed", "20261202", "--request-timeout", "30", "--no-color",
             "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                         "response_headers_conformance,response_schema_conformance", *excluded],
            capture_output=True, text=True, timeout=900)
    finally:
        server.shutdown()
    output = result.stdout + result.stderr
    print("\n".join(line for line in output.splitlines() if re.search(r"generated|passed|failed|Selected", line)))
    return result.returncode, output


# Left out of the runs: signing in/out and changing the password would lock the test's own account out;
# revoking a token by a guessed id would revoke the test's own credential.
OWN_ACCOUNT = ("/api/session", "/api/me/password", "/api/me/tokens/{token_id}")


@pytest.mark.realtime
@pytest.mark.parametrize("who,exclude", [
    (HANDLER, ()),
    # the administrator reaches the admin and designer operations too; not the calendar, nor the registers'
    # writes (the demo's supervisors, experts, personnel — random edits unqualify the demo's reviewers —,
    # contact points) nor closing an assessment period, which the other tests of this session rely on
    ("admin", ("/api/calendar/days/{day}", "/api/calendar/years/{year}", "/api/supervisors",
               "/api/supervisors/{appointment_id}", "/api/experts", "/api/experts/{expert_id}",
               "/api/personnel/{user_id}", "/api/personnel/{user_id}/training",
               "/api/personnel/{user_id}/training/{training_id}", "/api/contact-points/{point_id}",
               "/api/assessment/periods/{period}/close")),
])
def test_schemathesis_finds_no_server_error_and_no_mismatch(app, token, who, exclude):
    """schemathesis (its CLI, as an operator would run it) against the app served on a real port, signed in
    by token: every operation, a bounded number of examples each; any 5xx or any answer that differs from
    the document fails."""
    code, output = _schemathesis(app, token(who)["Authorization"], *OWN_ACCOUNT, *exclude)
    assert code == 0, output[-6000:]
