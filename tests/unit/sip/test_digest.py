"""Digest authentication (sip/digest.py): RFC test vectors, challenge choice, nonce reuse,
and the server side's nonces and checks — no sockets, time passed in."""

from __future__ import annotations

import itertools

from vts_masking.sip.digest import (
    Challenge,
    Credentials,
    DigestClient,
    DigestServer,
    best_challenge,
    digest_response,
    parse_auth_params,
    parse_challenges,
)

# RFC 7616 §3.9.1: the same request answered with SHA-256 and with MD5.
RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC7616_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
RFC7616_HEADERS = [
    f'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, '
    f'nonce="{RFC7616_NONCE}", opaque="{RFC7616_OPAQUE}"',
    f'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, '
    f'nonce="{RFC7616_NONCE}", opaque="{RFC7616_OPAQUE}"',
]


def rfc7616_client() -> DigestClient:
    return DigestClient(Credentials("Mufasa", "Circle of Life"), cnonce=lambda: RFC7616_CNONCE)


def test_sha256_answer_matches_rfc7616_example() -> None:
    name, value = rfc7616_client().answer(
        parse_challenges(RFC7616_HEADERS), "GET", "/dir/index.html"
    ) or ("", "")
    p = parse_auth_params(value[len("Digest ") :])
    assert name == "Authorization"
    assert p["algorithm"] == "SHA-256"
    assert p["response"] == "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    assert (p["nc"], p["qop"], p["opaque"]) == ("00000001", "auth", RFC7616_OPAQUE)


def test_md5_answer_matches_rfc7616_example() -> None:
    _name, value = rfc7616_client().answer(
        parse_challenges(RFC7616_HEADERS[1:]), "GET", "/dir/index.html"
    ) or ("", "")
    p = parse_auth_params(value[len("Digest ") :])
    assert p["response"] == "8ca523f5e9506fed4657c9700eebdbec"


def test_md5_without_qop_matches_rfc2617_example() -> None:
    # RFC 2617 §3.5 computed without qop (RFC 2069 compatibility), as SIP trunks still do
    ha1 = "939e7578ed9e3c518a452acee763bce9"  # MD5("Mufasa:testrealm@host.com:Circle Of Life")
    assert (
        digest_response(
            algorithm="MD5",
            ha1=ha1,
            method="GET",
            uri="/dir/index.html",
            nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
            qop="auth",
            nc="00000001",
            cnonce="0a4f113b",
        )
        == "6629fae49393a05397450978507c4ef1"
    )


def test_strongest_supported_algorithm_is_chosen_whatever_the_order() -> None:
    md5_first = list(reversed(RFC7616_HEADERS))
    chosen = best_challenge(parse_challenges(md5_first))
    assert chosen is not None and chosen.algorithm == "SHA-256"


def test_two_challenges_in_one_header_value_are_both_read() -> None:
    both = ", ".join(RFC7616_HEADERS)
    assert [c.algorithm for c in parse_challenges([both])] == ["SHA-256", "MD5"]


def test_unknown_algorithm_and_auth_int_only_are_unusable() -> None:
    chs = parse_challenges(
        [
            'Digest realm="r", nonce="n", algorithm=SHA-1',
            'Digest realm="r", nonce="n", qop="auth-int"',
            'Basic realm="r"',
        ]
    )
    assert best_challenge(chs) is None


def test_proxy_challenge_is_answered_in_proxy_authorization() -> None:
    client = DigestClient(Credentials("u", "p"))
    answer = client.answer(
        parse_challenges(['Digest realm="r", nonce="n1", qop="auth"'], proxy=True),
        "INVITE",
        "sip:+1@t",
    )
    assert answer is not None and answer[0] == "Proxy-Authorization"


def test_later_requests_reuse_the_nonce_with_the_next_count() -> None:
    client = DigestClient(Credentials("u", "p"))
    client.answer(
        parse_challenges(['Digest realm="r", nonce="n1", qop="auth"']), "INVITE", "sip:a@t"
    )
    [(_, second)] = client.preauthorize("BYE", "sip:a@t")
    [(_, third)] = client.preauthorize("BYE", "sip:a@t")
    assert parse_auth_params(second[7:])["nc"] == "00000002"
    assert parse_auth_params(third[7:])["nc"] == "00000003"
    assert parse_auth_params(third[7:])["nonce"] == "n1"


def test_challenge_after_our_answer_means_wrong_credentials() -> None:
    client = DigestClient(Credentials("u", "p"))
    first = parse_challenges(['Digest realm="r", nonce="n1", qop="auth"'])
    again = parse_challenges(['Digest realm="r", nonce="n2", qop="auth"'])  # a fresh nonce
    assert client.answer(first, "INVITE", "sip:a@t", answered=0) is not None
    assert client.answer(again, "INVITE", "sip:a@t", answered=1) is None
    assert client.rejected == 1 and client.preauthorize("BYE", "sip:a@t") == []


def test_stale_challenge_after_our_answer_is_answered_again() -> None:
    client = DigestClient(Credentials("u", "p"))
    stale = parse_challenges(['Digest realm="r", nonce="n2", qop="auth", stale=true'])
    assert client.answer(stale, "INVITE", "sip:a@t", answered=1) is not None
    assert client.answer(stale, "INVITE", "sip:a@t", answered=3) is None


def test_challenge_for_another_realm_than_configured_is_not_answered() -> None:
    client = DigestClient(Credentials("u", "p", realm="carrier"))
    chs = parse_challenges(['Digest realm="elsewhere", nonce="n1"'])
    assert client.answer(chs, "INVITE", "sip:a@t") is None


def _answer(server: DigestServer, now: float, password: str = "secret", method: str = "INVITE"):
    chs = server.challenges(now)
    client = DigestClient(Credentials("trunk", password))
    answer = client.answer(chs, method, "sip:+1@vts")
    assert answer is not None
    return answer[1]


def test_server_accepts_a_right_answer_to_its_own_nonce() -> None:
    server = DigestServer("vts", {"trunk": "secret"})
    assert server.check("INVITE", _answer(server, 100.0), 101.0).ok


def test_server_refuses_a_wrong_password() -> None:
    server = DigestServer("vts", {"trunk": "secret"})
    verdict = server.check("INVITE", _answer(server, 100.0, password="guess"), 101.0)
    assert not verdict.ok and not verdict.stale


def test_server_refuses_an_answer_for_another_method() -> None:
    server = DigestServer("vts", {"trunk": "secret"})
    assert not server.check("BYE", _answer(server, 100.0), 101.0).ok


def test_server_calls_an_expired_nonce_stale() -> None:
    server = DigestServer("vts", {"trunk": "secret"}, lifetime=30)
    verdict = server.check("INVITE", _answer(server, 100.0), 131.0)
    assert not verdict.ok and verdict.stale


def test_server_refuses_a_nonce_it_did_not_issue() -> None:
    ours = DigestServer("vts", {"trunk": "secret"})
    other = DigestServer("vts", {"trunk": "secret"})  # another secret
    assert not ours.check("INVITE", _answer(other, 100.0), 101.0).ok


def test_server_offers_sha256_before_md5() -> None:
    server = DigestServer("vts", {"trunk": "secret"})
    assert [c.algorithm for c in server.challenges(0.0)] == ["SHA-256", "MD5"]
    header = server.challenges(0.0)[0].to_header_value()
    (back,) = parse_challenges([header])
    assert back.qop == ("auth",) and back.realm == "vts"


def test_nonce_counts_run_per_nonce() -> None:
    counter = itertools.count()
    client = DigestClient(Credentials("u", "p"), cnonce=lambda: str(next(counter)))
    client.answer(parse_challenges(['Digest realm="r", nonce="a", qop="auth"']), "X", "u")
    client.answer(parse_challenges(['Digest realm="r", nonce="b", qop="auth"']), "X", "u")
    [(_, value)] = client.preauthorize("X", "u")
    assert parse_auth_params(value[7:])["nc"] == "00000002"  # nonce b: second use


def test_challenge_round_trips_through_its_header() -> None:
    c = Challenge("r", "n", algorithm="SHA-256", qop=("auth",), opaque="o", stale=True)
    (back,) = parse_challenges([c.to_header_value()])
    assert back == c
