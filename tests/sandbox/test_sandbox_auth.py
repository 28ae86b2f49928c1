"""HTTP Basic auth and project token: 401 and 403 with the API's error shape."""

from __future__ import annotations

import base64

import pytest
import requests

from exportspec.sandbox import Sandbox

from .conftest import post


def _raw_post(sandbox: Sandbox, headers: dict[str, str]) -> requests.Response:
    return requests.post(
        sandbox.export_url,
        data=b'{"format": "csv"}',
        headers={"Content-Type": "application/json", **headers},
        timeout=10,
    )


def _basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        pytest.param({}, "Access key not provided", id="missing"),
        pytest.param({"Authorization": "Token abc"}, "Access key not provided", id="token-scheme"),
        pytest.param({"Authorization": "Basic"}, "Access key not provided", id="empty-basic"),
        pytest.param({"Authorization": "Basic !!!"}, "Malformed", id="bad-base64"),
        pytest.param({"Authorization": _basic("sandbox")}, "Malformed", id="no-colon"),
        pytest.param({"Authorization": _basic("other:sandbox")}, "not found", id="unknown-key"),
    ],
)
def test_401_for_missing_malformed_or_unknown_key(
    sandbox: Sandbox, headers: dict[str, str], message: str
) -> None:
    response = _raw_post(sandbox, headers)
    assert response.status_code == 401
    assert response.json()["success"] is False
    assert message in response.json()["error"]
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_403_for_wrong_secret(sandbox: Sandbox) -> None:
    response = post(sandbox, {"format": "csv"}, auth=("sandbox", "wrong"))
    assert response.status_code == 403
    assert response.json() == {"success": False, "error": "Invalid secret"}


def test_403_for_a_project_token_not_served(sandbox: Sandbox) -> None:
    url = sandbox.export_url.replace("/projects/sandbox/", "/projects/other-project/")
    response = requests.post(url, json={"format": "csv"}, auth=("sandbox", "sandbox"), timeout=10)
    assert response.status_code == 403
    assert response.json()["success"] is False
    assert "other-project" in response.json()["error"]


def test_auth_is_checked_before_the_body(sandbox: Sandbox) -> None:
    response = post(sandbox, {"format": "xml"}, auth=("sandbox", "wrong"))
    assert response.status_code == 403


def test_custom_credentials_are_honoured() -> None:
    from exportspec.sandbox import running_sandbox

    with running_sandbox(customers=3, project_token="p1", api_key_id="k", api_secret="s3") as sb:
        assert sb.export_url.endswith("/projects/p1/customers/export")
        assert post(sb, {"format": "csv"}, auth=("k", "s3")).status_code == 200
        assert post(sb, {"format": "csv"}, auth=("sandbox", "sandbox")).status_code == 401
