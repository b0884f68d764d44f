"""The one-place rules of issue 11: text, integers, phone numbers, outbound URLs."""

from __future__ import annotations

import ipaddress

import pytest

from vts_masking.domain import coerce, errors, outbound, phone, text


@pytest.mark.parametrize("value", ["\udc80", "a\ud800b", "x\x00y"])
def test_lone_surrogates_and_nul_are_not_text(value: str) -> None:
    assert text.problem(value) is not None


@pytest.mark.parametrize("value", ["plain", "Zoë 🚕", "tab\tis text", ""])
def test_ordinary_strings_are_text(value: str) -> None:
    assert text.problem(value) is None


@pytest.mark.parametrize("value", ["a\nb", "a\tb", "a\x1bb", "a\u2028b", "a\u202eb", "a\x85b"])
def test_names_hold_no_control_characters(value: str) -> None:
    assert text.control_problem(value) is not None


@pytest.mark.parametrize("value", ["Acme Rides", "Zoë — north", "日本"])
def test_printable_names_pass(value: str) -> None:
    assert text.control_problem(value) is None


@pytest.mark.parametrize("value", ["9" * 19, "1" * 5000, 10**18, -(10**18), 1e30, "-" + "1" * 19])
def test_integers_of_more_than_18_digits_are_out_of_range(value: object) -> None:
    with pytest.raises(errors.InvalidParameter, match="outside the allowed range"):
        coerce.integer("limit", value)


@pytest.mark.parametrize("value", ["999999999999999999", 3600, "3600", 3600.0, " -5 "])
def test_integers_up_to_18_digits_are_read(value: object) -> None:
    assert isinstance(coerce.integer("limit", value), int)


@pytest.mark.parametrize(
    "number", ["+١٤١٥٥٥٥٢٣٤٥", "+１４１５５５５２３４５", "-14155552345", "+1415555²345", "1" * 100]
)
def test_phone_numbers_are_ascii_digits_only(number: str) -> None:
    with pytest.raises(phone.InvalidNumber):
        phone.normalize(number)


@pytest.mark.parametrize("number", ["+1 (415) 555-2345", "0014155552345", "14155552345"])
def test_usual_phone_number_shapes_pass(number: str) -> None:
    assert phone.normalize(number) == "+14155552345"


def test_a_lenient_lookup_key_is_always_storable_text() -> None:
    assert phone.normalize_lenient("anon\x00ymous") == ""
    assert phone.normalize_lenient("+١٤١٥") == "+١٤١٥"  # not digits: kept, matches nothing


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "10.1.2.3", "100.64.0.1", "169.254.169.254", "192.168.1.1", "0.0.0.0",
        "224.0.0.1", "239.255.255.250", "255.255.255.255", "198.18.0.1", "240.0.0.1",
        "::1", "::", "fe80::1", "fc00::1", "fd12::1", "fec0::1", "ff02::1", "ff0e::1",
        "::ffff:127.0.0.1", "::127.0.0.1", "::10.0.0.1", "64:ff9b::7f00:1", "64:ff9b::a00:1",
        "64:ff9b:1::1", "2002:7f00:1::", "2002:a00:1::", "2001:db8::1",
    ],
)  # fmt: skip
def test_non_public_addresses_and_their_ipv6_wrappings_are_refused(address: str) -> None:
    assert not outbound.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "64:ff9b::808:808", "2002:808:808::"]
)
def test_public_addresses_pass(address: str) -> None:
    assert outbound.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    [
        "http://0177.0.0.1/", "http://0x7f.0.0.1/", "http://127.1/", "http://2130706433/",
        "http://1.2.3.4.5/", "http://%31%32%37.0.0.1/", "http://a.com\\@10.0.0.1/",
        "http://a.com/\x00", "http://a.com/\udc80", "http://a .com/", "http://[fe80::1%25eth0]/",
        "ftp://a.com/", "http:///x", "http://a.com:99999/", "http://-a.com/",
    ],
)  # fmt: skip
def test_urls_of_an_ambiguous_or_bad_shape_are_refused(url: str) -> None:
    with pytest.raises(outbound.UnsafeUrl):
        outbound.parse(url)


@pytest.mark.parametrize(
    ("url", "host", "port"),
    [
        ("https://hooks.example.com/x?a=1", "hooks.example.com", 443),
        ("http://user:pw@8.8.8.8:8080/", "8.8.8.8", 8080),
        ("http://[2606:4700::1111]/", "2606:4700::1111", 80),
        ("https://bücher.example/", "bücher.example", 443),
        ("http://my_host.example./", "my_host.example.", 80),
    ],
)
def test_ordinary_urls_parse(url: str, host: str, port: int) -> None:
    target = outbound.parse(url)
    assert (target.host, target.port) == (host, port)


@pytest.mark.parametrize("url", ["http://localhost/", "http://LOCALHOST./", "http://a.localhost/"])
def test_loopback_names_are_non_public_without_dns(url: str) -> None:
    assert outbound.host_problem(outbound.parse(url)) is not None
