"""The V3 callback signature (docs/calls.md#delivery-and-signatures) against fixed vectors computed with openssl."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from urllib.parse import urlencode

import pytest

from vts.signature import (
    NONCE_HEADER,
    SIGNATURE_HEADER,
    compute_v3_signature,
    generate_nonce,
    signature_base_params,
    validate_request_signature,
    validate_starlette_request,
    validate_v3_signature,
)

TOKEN = "MyAuthToken"
NONCE = "abcdefghijklmnop1234"
POST_URL = "https://example.com/cb/"
POST_PARAMS = {
    "SessionUUID": "abcd-1234",
    "EventName": "SessionCreated",
    "VirtualNumber": "+12205550020",
    "CallUUID": "c-1",
}
# printf '%s' 'https://example.com/cb/.abcdefghijklmnop1234.CallUUID=c-1&EventName=Session
# Created&SessionUUID=abcd-1234&VirtualNumber=+12205550020' | openssl dgst -sha256
# -hmac MyAuthToken -binary | base64
POST_SIGNATURE = "ujK6e3xJ/NMze7Kmnj0kf1zupxwXXPASLhsqiDpjjO4="
GET_URL = "https://example.com/cb/?EventName=SessionCreated&SessionUUID=abcd-1234"
GET_SIGNATURE = "/b7VD/SnTW+qcsr0dtyb/R/daYgw+28VrSXlh/n3mFU="


def test_post_signature_matches_the_fixed_vector():
    assert compute_v3_signature("POST", POST_URL, POST_PARAMS, NONCE, TOKEN) == POST_SIGNATURE


def test_get_signature_covers_the_query_and_ignores_params():
    assert compute_v3_signature("GET", GET_URL, None, NONCE, TOKEN) == GET_SIGNATURE
    assert compute_v3_signature("get", GET_URL, {"x": "1"}, NONCE, TOKEN) == GET_SIGNATURE


def test_params_are_sorted_by_name_without_percent_encoding():
    base = signature_base_params("POST", {"b": "x y", "a": "+1&2", "C": "é"})
    assert base == "C=é&a=+1&2&b=x y"


def test_repeated_fields_keep_their_order_and_utf8_is_signed_as_utf8():
    params = [("Name", "José & Co"), ("a", "1"), ("a", "2")]
    assert signature_base_params("POST", params) == "Name=José & Co&a=1&a=2"
    expected = "MHAxn4a6BVST5MXJFlc27Tm0TCrE+yvfseZPnevnzlA="
    sig = compute_v3_signature("POST", POST_URL, params, "nonce-nonce-nonce-16", "tökén")
    assert sig == expected
    assert (
        compute_v3_signature(
            "POST",
            POST_URL,
            {"a": ["1", "2"], "Name": "José & Co"},
            "nonce-nonce-nonce-16",
            "tökén",
        )
        == expected
    )


def test_signature_is_base64_hmac_sha256_of_url_nonce_params():
    message = f"{POST_URL}.{NONCE}.a=1".encode()
    expected = base64.b64encode(hmac.new(b"k", message, hashlib.sha256).digest()).decode()
    assert compute_v3_signature("POST", POST_URL, {"a": 1}, NONCE, "k") == expected


def test_validate_accepts_the_right_signature():
    assert validate_v3_signature("POST", POST_URL, POST_PARAMS, NONCE, POST_SIGNATURE, TOKEN)


@pytest.mark.parametrize(
    "change",
    ["token", "nonce", "url", "param", "signature"],
)
def test_validate_refuses_any_change(change):
    args = {
        "method": "POST",
        "url": POST_URL,
        "params": dict(POST_PARAMS),
        "nonce": NONCE,
        "signature": POST_SIGNATURE,
        "auth_token": TOKEN,
    }
    if change == "token":
        args["auth_token"] = "OtherToken"
    elif change == "nonce":
        args["nonce"] = NONCE + "x"
    elif change == "url":
        args["url"] = POST_URL + "?x=1"
    elif change == "param":
        args["params"]["EventName"] = "SessionTimeout"
    else:
        args["signature"] = POST_SIGNATURE[:-2] + "A="
    assert not validate_v3_signature(**args)


def test_validate_refuses_empty_nonce_or_signature():
    assert not validate_v3_signature("POST", POST_URL, POST_PARAMS, "", POST_SIGNATURE, TOKEN)
    assert not validate_v3_signature("POST", POST_URL, POST_PARAMS, NONCE, "", TOKEN)


def test_validate_refuses_non_ascii_garbage_without_raising():
    assert not validate_v3_signature("POST", POST_URL, POST_PARAMS, NONCE, "ü" * 44, TOKEN)


def test_generated_nonces_are_long_url_safe_and_fresh():
    nonces = {generate_nonce() for _ in range(50)}
    assert len(nonces) == 50
    for nonce in nonces:
        assert len(nonce) >= 16
        assert set(nonce) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_generate_nonce_refuses_too_few_bytes():
    with pytest.raises(ValueError):
        generate_nonce(8)


class _FlaskLikeRequest:
    """Duck-typed stand-in shaped like flask.request (method, url, headers, form)."""

    def __init__(self, method, url, headers, form=None):
        self.method = method
        self.url = url
        self.headers = headers
        self.form = form or {}


def test_flask_like_post_request_validates():
    request = _FlaskLikeRequest(
        "POST", POST_URL, {NONCE_HEADER: NONCE, SIGNATURE_HEADER: POST_SIGNATURE}, POST_PARAMS
    )
    assert validate_request_signature(request, TOKEN)
    assert not validate_request_signature(request, "wrong")


def test_flask_like_request_without_headers_is_refused():
    assert not validate_request_signature(_FlaskLikeRequest("POST", POST_URL, {}), TOKEN)


def test_url_override_for_requests_behind_a_proxy():
    request = _FlaskLikeRequest(
        "GET",
        "http://internal:5000/cb/?EventName=SessionCreated&SessionUUID=abcd-1234",
        {NONCE_HEADER: NONCE, SIGNATURE_HEADER: GET_SIGNATURE},
    )
    assert not validate_request_signature(request, TOKEN)
    assert validate_request_signature(request, TOKEN, url=GET_URL)


def test_werkzeug_request_validates():
    werkzeug_test = pytest.importorskip("werkzeug.test")
    from werkzeug.wrappers import Request

    environ = werkzeug_test.EnvironBuilder(
        base_url="https://example.com",
        path="/cb/",
        method="POST",
        data=urlencode(POST_PARAMS),
        content_type="application/x-www-form-urlencoded",
        headers={NONCE_HEADER: NONCE, SIGNATURE_HEADER: POST_SIGNATURE},
    ).get_environ()
    assert validate_request_signature(Request(environ), TOKEN)


def _starlette_request(method, path, query, body, headers):
    from starlette.requests import Request

    sent = False

    async def receive():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {
        "type": "http",
        "method": method,
        "scheme": "https",
        "server": ("example.com", 443),
        "path": path,
        "root_path": "",
        "query_string": query,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    return Request(scope, receive)


def test_starlette_post_request_validates():
    pytest.importorskip("starlette")
    request = _starlette_request(
        "POST",
        "/cb/",
        b"",
        urlencode(POST_PARAMS).encode(),
        {
            "host": "example.com",
            "content-type": "application/x-www-form-urlencoded",
            NONCE_HEADER: NONCE,
            SIGNATURE_HEADER: POST_SIGNATURE,
        },
    )
    assert asyncio.run(validate_starlette_request(request, TOKEN))


def test_starlette_get_request_validates_and_tampered_query_does_not():
    pytest.importorskip("starlette")
    headers = {"host": "example.com", NONCE_HEADER: NONCE, SIGNATURE_HEADER: GET_SIGNATURE}
    good = _starlette_request(
        "GET", "/cb/", b"EventName=SessionCreated&SessionUUID=abcd-1234", b"", headers
    )
    bad = _starlette_request(
        "GET", "/cb/", b"EventName=SessionTimeout&SessionUUID=abcd-1234", b"", headers
    )
    assert asyncio.run(validate_starlette_request(good, TOKEN))
    assert not asyncio.run(validate_starlette_request(bad, TOKEN))


# The service signs the URL exactly as it requested it; a GET callback's query carries
# timestamps (":" escaped as %3A) and E.164 numbers ("+" escaped as %2B).
RAW_QUERY = "EventName=SessionCreated&EventTimestamp=2026-11-26+13%3A00%3A00&From=%2B14155550100&N=%C3%A9%7E"


def test_werkzeug_get_request_keeps_the_query_escapes_it_would_decode():
    werkzeug_test = pytest.importorskip("werkzeug.test")
    from werkzeug.wrappers import Request

    signed_url = f"https://example.com/cb/?{RAW_QUERY}"
    signature = compute_v3_signature("GET", signed_url, None, NONCE, TOKEN)
    environ = werkzeug_test.EnvironBuilder(
        base_url="https://example.com",
        path="/cb/",
        query_string=RAW_QUERY,
        method="GET",
        headers={NONCE_HEADER: NONCE, SIGNATURE_HEADER: signature},
    ).get_environ()
    request = Request(environ)
    assert request.url != signed_url  # what a naive verifier would sign, and fail on
    assert validate_request_signature(request, TOKEN)
    environ["REQUEST_URI"] = f"/cb/?{RAW_QUERY}"  # as gunicorn and the dev server set it
    assert validate_request_signature(Request(environ), TOKEN)


def test_starlette_get_request_uses_the_raw_path_and_query():
    pytest.importorskip("starlette")
    signed_url = f"https://example.com/cb%20hooks/?{RAW_QUERY}"
    signature = compute_v3_signature("GET", signed_url, None, NONCE, TOKEN)
    request = _starlette_request(
        "GET",
        "/cb hooks/",
        RAW_QUERY.encode(),
        b"",
        {"host": "example.com", NONCE_HEADER: NONCE, SIGNATURE_HEADER: signature},
    )
    request.scope["raw_path"] = b"/cb%20hooks/"
    assert asyncio.run(validate_starlette_request(request, TOKEN))
