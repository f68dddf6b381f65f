"""Entra remembers tokens whose signature it has checked: a resource that sees one token many times pays for the RSA
check once, yet audience, expiry and key rotation still apply to every call."""

from __future__ import annotations

import pytest

from sandbox.core import InvalidToken
from sandbox.entra import Entra
from sandbox.school import load_school
from sandbox.stack import SANDBOX_APP_ID, directory_for

GRAPH = "https://127.0.0.1:8444"


def test_a_token_checked_before_is_still_held_to_audience_expiry_and_keys() -> None:
    now = [1_000_000.0]
    school = load_school()
    directory = directory_for(school, app_id=SANDBOX_APP_ID, app_secret="s", graph_url=GRAPH)
    entra = Entra("https://127.0.0.1:8443", directory, graph_resource=GRAPH, clock=lambda: now[0])
    dana = school.user_named("Dana Whitfield").id
    token = entra.issue_access_token(audience=GRAPH, tenant=school.tenantId, app_id=SANDBOX_APP_ID, user_oid=dana)

    assert entra.verify(token, audience=GRAPH)["oid"] == dana
    assert entra.verify(token, audience=GRAPH)["oid"] == dana
    with pytest.raises(InvalidToken, match="wrong audience"):
        entra.verify(token, audience="https://elsewhere")
    now[0] += 3601
    with pytest.raises(InvalidToken, match="expired"):
        entra.verify(token, audience=GRAPH)
    now[0] -= 3601
    entra.rotate_key(keep_previous=False)
    with pytest.raises(InvalidToken, match="unknown signing key"):
        entra.verify(token, audience=GRAPH)
