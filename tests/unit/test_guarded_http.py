"""Which addresses a callback may reach, and URL checks."""

from __future__ import annotations

import ipaddress

import pytest

from vts_masking.guarded_http import UnsafeTarget, check_addresses, check_url, is_public


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "239.255.255.250",
        "255.255.255.255",
        "192.0.2.1",
        "240.0.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "2001:db8::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "64:ff9b::a00:1",
        "2002:a00:1::1",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))
    with pytest.raises(UnsafeTarget):
        check_addresses("h", [address])


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_addresses_pass(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


def test_one_private_address_among_public_ones_refuses_the_host() -> None:
    with pytest.raises(UnsafeTarget, match=r"10\.0\.0\.1"):
        check_addresses("h", ["8.8.8.8", "10.0.0.1"])
    with pytest.raises(UnsafeTarget):
        check_addresses("h", [])


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://example.com/x", ("example.com", 80)),
        ("https://Example.com", ("example.com", 443)),
        ("http://[2606:4700::1]:8080/", ("2606:4700::1", 8080)),
    ],
)
def test_http_and_https_urls_pass(url: str, expected: tuple[str, int]) -> None:
    assert check_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/",
        "file:///etc/passwd",
        "gopher://x",
        "http:///nohost",
        "example.com/x",
        "http://example.com:99999/",
    ],
)
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeTarget):
        check_url(url)
