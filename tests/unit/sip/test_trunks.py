"""Trunk configuration (sip/trunks.py) and the access list (sip/acl.py): the trunks file,
its errors, the outbound choice by caller ID, and who may send us requests."""

from __future__ import annotations

from pathlib import Path

import pytest

from vts_masking.sip.acl import AccessList
from vts_masking.sip.trunks import (
    Trunk,
    TrunkConfigError,
    TrunkTable,
    load_trunks,
    parse_target,
)

FILE = """
[[trunk]]
name = "ip-auth"
address = "203.0.113.10"
inbound = ["203.0.113.0/28"]
default = true

[[trunk]]
name = "creds"
address = "198.51.100.20:5080"
transport = "tcp"
numbers = ["+44", "4420"]
username = "acct"
password_env = "CREDS_PASSWORD"
realm = "carrier"

[[trunk]]
name = "tls"
address = "[2001:db8::5]"
transport = "tls"
numbers = ["+1415"]
srtp = "require"
register = true
username = "u"
password = "p"
register_expires = 120
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "trunks.toml"
    p.write_text(text)
    return p


def table(tmp_path: Path, text: str = FILE, **kw: object) -> TrunkTable:
    return load_trunks(write(tmp_path, text), env={"CREDS_PASSWORD": "s3cret"}, resolve=False, **kw)


def test_trunks_file_is_read_with_ports_defaulting_by_transport(tmp_path: Path) -> None:
    t = table(tmp_path)
    assert [(x.name, x.addr, x.transport) for x in t.trunks] == [
        ("ip-auth", ("203.0.113.10", 5060), "udp"),
        ("creds", ("198.51.100.20", 5080), "tcp"),
        ("tls", ("2001:db8::5", 5061), "tls"),
    ]


def test_password_can_come_from_the_environment(tmp_path: Path) -> None:
    creds = table(tmp_path).for_name("creds")
    assert creds is not None and creds.credentials is not None
    assert (creds.credentials.password, creds.credentials.realm) == ("s3cret", "carrier")


def test_outbound_trunk_is_the_longest_prefix_of_the_caller_id(tmp_path: Path) -> None:
    t = table(tmp_path)
    assert t.for_caller_id("+442071234567").name == "creds"
    assert t.for_caller_id("+14155550100").name == "tls"


def test_caller_id_served_by_no_trunk_leaves_through_the_default(tmp_path: Path) -> None:
    t = table(tmp_path)
    assert t.for_caller_id("+33123456789").name == "ip-auth"
    assert t.for_caller_id(None).name == "ip-auth"


def test_first_trunk_is_the_default_when_none_says_so() -> None:
    t = TrunkTable.build([Trunk("a", "192.0.2.1", 5060), Trunk("b", "192.0.2.2", 5060)])
    assert t.default.name == "a"


def test_inbound_source_names_its_trunk(tmp_path: Path) -> None:
    t = table(tmp_path)
    assert (t.for_source("203.0.113.7") or Trunk("x", "", 0)).name == "ip-auth"
    assert (t.for_source("198.51.100.20") or Trunk("x", "", 0)).name == "creds"
    assert t.for_source("192.0.2.99") is None


def test_acl_admits_trunk_networks_and_addresses_only(tmp_path: Path) -> None:
    acl = table(tmp_path, allow_loopback=False).acl
    assert acl.allows("203.0.113.15") and acl.allows("198.51.100.20")
    assert acl.allows("2001:db8::5")
    assert not acl.allows("203.0.113.16")
    assert not acl.allows("127.0.0.1")


def test_acl_admits_loopback_by_default_for_a_developer() -> None:
    acl = TrunkTable.single(("192.0.2.1", 5060)).acl
    assert acl.allows("127.0.0.5") and acl.allows("::1")
    assert not acl.allows("192.0.2.2")


def test_acl_extra_networks_and_any() -> None:
    assert AccessList.of(["10.0.0.0/8"], allow_loopback=False).allows("10.1.2.3")
    assert AccessList.of(["any"], allow_loopback=False).allows("192.0.2.55")


def test_acl_reads_ipv4_mapped_ipv6_sources_as_ipv4() -> None:
    assert AccessList.of(["192.0.2.0/24"], allow_loopback=False).allows("::ffff:192.0.2.9")


def test_acl_refuses_what_is_not_an_address() -> None:
    assert not AccessList.of([], allow_loopback=True).allows("example.com")


def test_acl_counts_refusals_per_source() -> None:
    acl = AccessList.of([])
    acl.count_refused("192.0.2.1")
    acl.count_refused("192.0.2.1")
    assert acl.refused == {"192.0.2.1": 2} and acl.refused_total == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[trunk]]\nname = "a"\n', "trunk 'a': address is required"),
        ('[[trunk]]\naddress = "x"\ntransport = "sctp"\n', "transport: one of udp, tcp, tls"),
        ('[[trunk]]\naddress = "x:99999"\n', "bad port"),
        ('[[trunk]]\naddress = "x"\nnumbers = ["+1a"]\n', "is not a number prefix"),
        ('[[trunk]]\naddress = "x"\ninbound = ["10.0.0.0/33"]\n', "not an IP address or network"),
        ('[[trunk]]\naddress = "x"\nusername = "u"\n', "username and password go together"),
        ('[[trunk]]\naddress = "x"\nregister = true\n', "register = true needs username"),
        ('[[trunk]]\naddress = "x"\ncolour = "red"\n', "unknown field(s) colour"),
        ('[[trunk]]\naddress = "x"\npassword_env = "NOPE"\nusername = "u"\n', "NOPE is unset"),
        ('[[trunk]]\naddress = "x"\nsrtp = "maybe"\n', "srtp: one of off, offer, require"),
        ('[[trunk]]\naddress = "x"\nmax_redirects = 99\n', "max_redirects: 0 to 10"),
        ('[[trunk]]\naddress = "x"\nregister_expires = "60"\n', "expected int"),
        ('[[trunk]]\nname="a"\naddress="x"\n[[trunk]]\nname="a"\naddress="y"\n', "used twice: a"),
        (
            '[[trunk]]\naddress="x"\ndefault=true\n[[trunk]]\naddress="y"\ndefault=true\n',
            "more than one",
        ),
        ("[trunks]\n", "unknown table(s) trunks"),
        ("", "no [[trunk]] table"),
        ("[[trunk]\n", "not valid TOML"),
    ],
)
def test_bad_trunks_file_is_refused_with_a_precise_message(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(TrunkConfigError) as err:
        table(tmp_path, text)
    assert message in str(err.value)


def test_missing_trunks_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(TrunkConfigError, match="No such file"):
        load_trunks(tmp_path / "absent.toml")


def test_target_parsing() -> None:
    assert parse_target("h") == ("h", 5060)
    assert parse_target("h", "tls") == ("h", 5061)
    assert parse_target("[::1]:5070") == ("::1", 5070)
    assert parse_target("::1") == ("::1", 5060)


def test_trunk_uri_is_sips_over_tls() -> None:
    assert Trunk("t", "h", 5061, "tls").uri("+1") == "sips:+1@h:5061"
    assert Trunk("t", "h", 5060, "tcp").uri("+1") == "sip:+1@h:5060;transport=tcp"
