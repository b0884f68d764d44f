"""Bad input never gets a 500 and never leaves a half-written row (property-based)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Tenant, us
from vts_masking.domain.views import PARAM_FIELDS

KEYS = [*PARAM_FIELDS, "first_party", "second_party", "session_uuid", "status", "limit"]
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["true", "FALSE", "3600", "0", "-1", "mp3", "GET", "+14155550001", "1e9"]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
BODIES = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=8)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=BODIES)
def test_random_create_bodies_get_201_or_a_400_in_the_error_shape(
    tenant: Tenant, body: dict
) -> None:
    if not tenant.http.get(tenant.base + "Number/").json()["objects"]:
        tenant.add_numbers(*(tenant.vn(i) for i in range(3)))
    before = tenant.http.get(tenant.base + "Masking/Session/").json()["response"]["meta"][
        "total_count"
    ]
    r = tenant.http.post(
        tenant.base + "Masking/Session/",
        content=json.dumps(body, allow_nan=True),
        headers={"content-type": "application/json"},
    )
    after = tenant.http.get(tenant.base + "Masking/Session/").json()["response"]["meta"][
        "total_count"
    ]
    assert r.status_code in (201, 400), r.text
    if r.status_code == 400:
        assert set(r.json()) == {"api_id", "error"}
        assert after == before
    else:
        assert after == before + 1


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=BODIES)
def test_random_update_bodies_never_fail_with_500(tenant: Tenant, body: dict) -> None:
    if not tenant.http.get(tenant.base + "Number/").json()["objects"]:
        tenant.add_numbers(tenant.vn(0))
    listed = tenant.http.get(tenant.base + "Masking/Session/", params={"status": "active"}).json()
    objects = listed["response"]["objects"]
    uuid = (
        objects[0]["session_uuid"]
        if objects
        else tenant.session(first_party=us(1), second_party=us(2))["session_uuid"]
    )
    r = tenant.http.post(
        tenant.base + f"Masking/Session/{uuid}/",
        content=json.dumps(body, allow_nan=True),
        headers={"content-type": "application/json"},
    )
    assert r.status_code in (200, 400), r.text


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    raw=st.binary(max_size=200),
    ctype=st.sampled_from(
        [
            "application/json",
            "application/x-www-form-urlencoded",
            "text/plain",
            "application/xml",
            "",
        ]
    ),
)
def test_arbitrary_bytes_as_a_body_get_a_clear_4xx(tenant: Tenant, raw: bytes, ctype: str) -> None:
    r = tenant.http.post(
        tenant.base + "Masking/Session/", content=raw, headers={"content-type": ctype}
    )
    assert 400 <= r.status_code < 500, r.text
    assert "error" in r.json()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    query=st.dictionaries(
        st.sampled_from(
            [
                "limit",
                "offset",
                "status",
                "created_time__gt",
                "duration__lte",
                "first_party",
                "virtual_number",
                "subaccount",
            ]
        ),
        st.text(max_size=30),
        max_size=4,
    )
)
def test_random_list_filters_get_200_or_400(tenant: Tenant, query: dict) -> None:
    r = tenant.http.get(tenant.base + "Masking/Session/", params=query)
    assert r.status_code in (200, 400), r.text
