"""Client configuration, the requests it sends, and the error every status maps to
(answers from the real local test server of conftest.py)."""

from __future__ import annotations

import ast
import base64
import sys
from pathlib import Path

import pytest

import vts
from vts._base import DEFAULT_BASE_URL, parse_retry_after

from .conftest import AUTH_ID, AUTH_TOKEN

PACKAGE = Path(vts.__file__).parent


def test_credentials_and_url_fall_back_to_the_environment(monkeypatch):
    monkeypatch.setenv("VTS_AUTH_ID", AUTH_ID)
    monkeypatch.setenv("VTS_AUTH_TOKEN", AUTH_TOKEN)
    monkeypatch.setenv("VTS_API_URL", "https://masking.example.com/")
    client = vts.RestClient()
    assert client.auth_id == AUTH_ID
    assert client.base_url == "https://masking.example.com"


def test_default_url_is_the_local_service(monkeypatch):
    monkeypatch.delenv("VTS_API_URL", raising=False)
    assert vts.RestClient(AUTH_ID, AUTH_TOKEN).base_url == DEFAULT_BASE_URL
    assert DEFAULT_BASE_URL == "http://127.0.0.1:8080"


def test_arguments_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("VTS_AUTH_ID", "SA" + "Z" * 18)
    assert vts.RestClient(AUTH_ID, AUTH_TOKEN).auth_id == AUTH_ID


def test_missing_credentials_raise_authentication_error(monkeypatch):
    monkeypatch.delenv("VTS_AUTH_ID", raising=False)
    monkeypatch.delenv("VTS_AUTH_TOKEN", raising=False)
    with pytest.raises(vts.AuthenticationError, match="VTS_AUTH_ID"):
        vts.RestClient()
    with pytest.raises(vts.AuthenticationError):
        vts.AsyncRestClient(AUTH_ID)


@pytest.mark.parametrize(
    "auth_id",
    ["MA123", "XA" + "A" * 18, "ma" + "A" * 18, "MA" + "a" * 18, "MA" + "A" * 19, "MA" + "-" * 18],
)
def test_malformed_auth_id_raises_authentication_error(auth_id):
    with pytest.raises(vts.AuthenticationError) as info:
        vts.RestClient(auth_id, AUTH_TOKEN)
    assert info.value.status is None


def test_subaccount_ids_are_accepted():
    assert vts.RestClient("SA" + "0" * 18, AUTH_TOKEN).auth_id == "SA" + "0" * 18


def test_repr_never_shows_the_token():
    client = vts.RestClient(AUTH_ID, "super-secret-token")
    assert "super-secret-token" not in repr(client)
    assert AUTH_ID in repr(client)


def test_requests_carry_basic_auth_json_and_a_trailing_slash(fake):
    with vts.RestClient(AUTH_ID, AUTH_TOKEN, base_url=fake.url) as client:
        created = client.masking_sessions.create_masking_session(
            first_party="+14155552345", second_party="+12165554567", record=True
        )
        client.masking_sessions.update_masking_session(
            session_uuid=created.session_uuid, call_time_limit=3600, record=True
        )
        client.masking_sessions.list_masking_session(status="active", limit=5)
    post, update, listing = fake.requests
    expected = "Basic " + base64.b64encode(f"{AUTH_ID}:{AUTH_TOKEN}".encode()).decode()
    for request in fake.requests:
        assert request.headers["Authorization"] == expected
        assert request.path.endswith("/")
        assert request.headers["User-Agent"].startswith("vts-python/")
    assert post.path == f"/v1/Account/{AUTH_ID}/Masking/Session/"
    assert post.headers["Content-Type"] == "application/json"
    assert post.body == {
        "first_party": "+14155552345",
        "second_party": "+12165554567",
        "record": True,
    }
    assert update.path == f"/v1/Account/{AUTH_ID}/Masking/Session/{created.session_uuid}/"
    assert update.body == {"call_time_limit": 3600, "record": True}
    assert update.headers["Idempotency-Key"] != post.headers["Idempotency-Key"]
    assert listing.query == {"status": ["active"], "limit": ["5"]}


def test_identifiers_are_path_encoded_and_never_empty(fake):
    client = vts.RestClient(AUTH_ID, AUTH_TOKEN, base_url=fake.url, max_retries=0)
    with pytest.raises(vts.ResourceNotFoundError):
        client.masking_sessions.get_masking_session("../Number")
    assert fake.requests[-1].path.endswith("/Masking/Session/..%2FNumber/")
    with pytest.raises(ValueError):
        client.masking_sessions.get_masking_session("")
    with pytest.raises(ValueError):
        client.numbers.delete("  ")


def test_unknown_keyword_is_a_type_error_not_a_silent_typo():
    client = vts.RestClient(AUTH_ID, AUTH_TOKEN)
    with pytest.raises(TypeError):
        client.masking_sessions.update_masking_session("u", recrod=True)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, vts.ValidationError),
        (401, vts.AuthenticationError),
        (403, vts.ForbiddenError),
        (404, vts.ResourceNotFoundError),
        (405, vts.InvalidRequestError),
        (409, vts.InvalidRequestError),
        (422, vts.InvalidRequestError),
        (413, vts.InvalidRequestError),
        (429, vts.RateLimitError),
        (500, vts.ServerError),
        (503, vts.ServerError),
    ],
)
def test_every_status_raises_its_class_with_status_error_and_api_id(fake, status, cls):
    client = vts.RestClient(AUTH_ID, AUTH_TOKEN, base_url=fake.url, max_retries=0)
    fake.fail("status", status=status, body={"api_id": f"id-{status}", "error": f"e{status}"})
    with pytest.raises(cls) as info:
        client.masking_sessions.list_masking_session()
    assert isinstance(info.value, vts.VTSRestException)
    assert (info.value.status, info.value.error, info.value.api_id) == (
        status,
        f"e{status}",
        f"id-{status}",
    )
    assert f"id-{status}" in str(info.value)


def test_rate_limit_error_carries_retry_after(fake):
    client = vts.RestClient(AUTH_ID, AUTH_TOKEN, base_url=fake.url, max_retries=0)
    fake.fail("status", status=429, headers={"Retry-After": "3"})
    with pytest.raises(vts.RateLimitError) as info:
        client.masking_sessions.list_masking_session()
    assert info.value.retry_after == 3.0


def test_a_proxy_error_page_that_is_not_json_still_maps(fake):
    client = vts.RestClient(AUTH_ID, AUTH_TOKEN, base_url=fake.url, max_retries=0)
    fake.fail("status", status=502, body="<html>Bad gateway</html>")
    with pytest.raises(vts.ServerError) as info:
        client.masking_sessions.list_masking_session()
    assert info.value.error == "<html>Bad gateway</html>"
    assert info.value.api_id is None


def test_a_success_that_is_not_a_json_object_is_an_error(fake):
    client = vts.RestClient(AUTH_ID, AUTH_TOKEN, base_url=fake.url, max_retries=0)
    fake.fail("status", status=200, body="OK")
    with pytest.raises(vts.VTSRestException, match="JSON"):
        client.masking_sessions.list_masking_session()


def test_retry_after_parsing():
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_the_sdk_imports_nothing_but_the_standard_library_and_httpx():
    allowed_third_party = {"httpx"}
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert not top.startswith("vts_masking"), (path.name, name)
                assert top in sys.stdlib_module_names or top in allowed_third_party, (
                    path.name,
                    name,
                )


def test_the_package_is_typed():
    assert (PACKAGE / "py.typed").exists()


@pytest.mark.parametrize("as_mapping", [False, True])
def test_requests_go_through_the_configured_proxy(fake, as_mapping):
    # The fake server doubles as a forward proxy: it sees the absolute URL and answers.
    proxies = {"http://": fake.url} if as_mapping else fake.url
    with vts.RestClient(
        AUTH_ID, AUTH_TOKEN, base_url="http://vts.invalid:8080", proxies=proxies, max_retries=0
    ) as client:
        listed = client.masking_sessions.list_masking_session()
    assert listed.meta.total_count == 0
    assert fake.requests[-1].path == f"/v1/Account/{AUTH_ID}/Masking/Session/"
