"""The SSRF guard (DESIGN §5): which push endpoints the service may request."""

from __future__ import annotations

import pytest

from sentori_push import errors
from sentori_push.endpoint_guard import MAX_ENDPOINT_LENGTH, EndpointPolicy

DEFAULT = EndpointPolicy.parse("")
PATH = "/fcm/send/abc123:APA91bH"


def refusal(policy: EndpointPolicy, endpoint: str) -> str:
    with pytest.raises(errors.EndpointNotAllowed) as caught:
        policy.check(endpoint)
    assert policy.allows(endpoint) is False
    return caught.value.message


# --- the default allow-list admits the public push services ----------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91bH",
        "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABk",
        "https://web.push.apple.com/QGuQyavXutnMH6MFwPl4GJq",
        "https://api.push.apple.com/3/device/abc",
        "https://wns2-par02p.notify.windows.com/w/?token=BQYAAAB",
        "https://FCM.GoogleAPIs.com/fcm/send/x",
        "https://fcm.googleapis.com./fcm/send/x",
        "https://fcm.googleapis.com:443/fcm/send/x",
    ],
)
def test_default_allowlist_admits_public_push_services(endpoint: str) -> None:
    DEFAULT.check(endpoint)
    assert DEFAULT.allows(endpoint) is True


def test_empty_or_blank_allowlist_means_the_default_list() -> None:
    for value in ("", "   ", " , ,"):
        policy = EndpointPolicy.parse(value)
        assert policy.allows("https://fcm.googleapis.com/x")
        assert not policy.allows("https://example.com/x")


def test_wildcard_matches_subdomains_at_any_depth() -> None:
    assert DEFAULT.allows("https://a.b.push.services.mozilla.com/wpush/v2/x")


def test_wildcard_does_not_match_the_bare_apex() -> None:
    assert "not on the push service allow-list" in refusal(DEFAULT, "https://push.services.mozilla.com/wpush/v2/x")
    policy = EndpointPolicy.parse("*.push.services.mozilla.com,push.services.mozilla.com")
    assert policy.allows("https://push.services.mozilla.com/wpush/v2/x")


def test_allowlist_entries_are_trimmed_and_case_insensitive() -> None:
    policy = EndpointPolicy.parse("  Push.Example.COM. ,  *.Notify.Example.org ")
    assert policy.allows("https://push.example.com/x")
    assert policy.allows("https://a.notify.example.org/x")
    assert not policy.allows("https://fcm.googleapis.com/x")


# --- lookalike hosts -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com.evil.com/fcm/send/x",
        "https://evilfcm.googleapis.com/fcm/send/x",
        "https://push.services.mozilla.com.attacker.net/wpush/v2/x",
        "https://updates-push.services.mozilla.com/wpush/v2/x",
        "https://xpush.apple.com/x",
        "https://notify.windows.com.evil.com/x",
        "https://example.com/fcm.googleapis.com/x",
    ],
)
def test_lookalike_hosts_are_refused(endpoint: str) -> None:
    assert "not on the push service allow-list" in refusal(DEFAULT, endpoint)


# --- the URL shape ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "reason"),
    [
        ("http://fcm.googleapis.com/fcm/send/x", "plain http"),
        ("ftp://fcm.googleapis.com/x", "ftp scheme"),
        ("file:///etc/passwd", "file scheme"),
        ("gopher://fcm.googleapis.com/x", "gopher scheme"),
        ("javascript://fcm.googleapis.com/%0aalert(1)", "javascript scheme"),
        ("fcm.googleapis.com/fcm/send/x", "not an absolute"),
        ("https:fcm.googleapis.com/x", "not an absolute"),
        ("//fcm.googleapis.com/x", "not an absolute"),
        ("https:///fcm/send/x", "no host"),
        ("https://:443/x", "no host"),
        ("https://fcm.googleapis.com:8443/fcm/send/x", "port 8443"),
        ("https://fcm.googleapis.com:80/fcm/send/x", "port 80"),
        ("https://fcm.googleapis.com:/fcm/send/x", "malformed port"),
        ("https://fcm.googleapis.com:0/x", "malformed port"),
        ("https://fcm.googleapis.com:99999/x", "malformed port"),
        ("https://fcm.googleapis.com:44a/x", "malformed port"),
        ("https://fcm.googleapis.com:0443/x", "malformed port"),
    ],
)
def test_only_https_urls_with_a_host_on_the_default_port(endpoint: str, reason: str) -> None:
    assert reason in refusal(DEFAULT, endpoint)


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://user@fcm.googleapis.com/fcm/send/x",
        "https://user:pass@fcm.googleapis.com/fcm/send/x",
        "https://@fcm.googleapis.com/fcm/send/x",
        "https://fcm.googleapis.com@evil.com/x",
        "https://evil.com#@fcm.googleapis.com/x",
    ],
)
def test_userinfo_is_refused(endpoint: str) -> None:
    message = refusal(DEFAULT, endpoint)
    assert "userinfo" in message or "not on the push service allow-list" in message


def test_userinfo_is_refused_even_for_a_listed_origin() -> None:
    policy = EndpointPolicy.parse("http://127.0.0.1:8090,fcm.googleapis.com")
    assert "userinfo" in refusal(policy, "http://user@127.0.0.1:8090/push/x")
    assert "userinfo" in refusal(policy, "https://user@fcm.googleapis.com/x")


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com/fcm/send/a b",
        "https://fcm.googleapis.com/fcm/send/x\n",
        "https://fcm.googleapis.com\r\nHost: evil.com/x",
        "https://fcm.googleapis.com\t/x",
        " https://fcm.googleapis.com/x",
        "https://fcm.googleapis.com/x\x00",
        "https://fcm.googleapis.com/x\x7f",
    ],
)
def test_whitespace_and_control_characters_are_refused(endpoint: str) -> None:
    assert "whitespace, control or non-ASCII" in refusal(DEFAULT, endpoint)


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm%2egoogleapis.com/x",
        "https://%66cm.googleapis.com/x",
        "https://127.0.0.1%2f.fcm.googleapis.com/x",
        "https://[fe80::1%25eth0]/x",
    ],
)
def test_percent_encoded_hosts_are_refused(endpoint: str) -> None:
    assert "percent-encoded" in refusal(DEFAULT, endpoint)


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleaрis.com/x",  # Cyrillic р
        "https://xn--fcm.googleapis.com\u3002com/x",
        "https://ｆｃｍ.googleapis.com/x",  # fullwidth letters NFKC-fold to ASCII
        "https://a.push.services.mozilla.com\u2024evil.com/x",
    ],
)
def test_non_ascii_hosts_are_refused(endpoint: str) -> None:
    assert "non-ASCII" in refusal(DEFAULT, endpoint)


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://evil.com\\@fcm.googleapis.com/x",
        "https://fcm.googleapis.com\\.evil.com/x",
    ],
)
def test_backslash_is_refused_because_parsers_disagree_on_it(endpoint: str) -> None:
    assert "backslash" in refusal(DEFAULT, endpoint)


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm..googleapis.com/x",
        "https://.fcm.googleapis.com/x",
        "https://fcm_x.googleapis.com/x",
        "https://-a.push.apple.com/x",
        "https://a:b:c/x",
    ],
)
def test_malformed_hosts_are_refused(endpoint: str) -> None:
    assert "malformed host" in refusal(DEFAULT, endpoint)


def test_endpoint_length_is_capped() -> None:
    base = "https://fcm.googleapis.com/fcm/send/"
    at_cap = base + "a" * (MAX_ENDPOINT_LENGTH - len(base))
    assert DEFAULT.allows(at_cap)
    assert "longer than" in refusal(DEFAULT, at_cap + "a")


def test_empty_endpoint_is_refused() -> None:
    assert "empty" in refusal(DEFAULT, "")


def test_reason_names_the_host_but_never_the_full_endpoint() -> None:
    secret_path = "/wpush/v2/gAAAAABkSecretSubscriptionToken"
    for endpoint in (
        f"https://evil.example{secret_path}",
        f"https://fcm.googleapis.com:8443{secret_path}",
        f"http://fcm.googleapis.com{secret_path}",
        f"https://user@fcm.googleapis.com{secret_path}",
        f"https://fcm.googleapis.com{secret_path} x",
        f"https://10.0.0.1{secret_path}",
    ):
        message = refusal(EndpointPolicy.parse("fcm.googleapis.com,10.0.0.1"), endpoint)
        assert "SecretSubscriptionToken" not in message
        assert endpoint not in message
    assert "evil.example" in refusal(DEFAULT, f"https://evil.example{secret_path}")


# --- IP literals, in every spelling a client or resolver accepts -----------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "reason"),
    [
        ("https://127.0.0.1/x", "127.0.0.1 is a loopback address"),  # dotted IPv4
        ("https://127.1/x", "127.0.0.1 is a loopback address"),  # short form a.b
        ("https://127.0.1/x", "127.0.0.1 is a loopback address"),  # short form a.b.c
        ("https://2130706433/x", "127.0.0.1 is a loopback address"),  # decimal integer
        ("https://0x7f000001/x", "127.0.0.1 is a loopback address"),  # hex integer
        ("https://0x7f.0.0.1/x", "127.0.0.1 is a loopback address"),  # hex part
        ("https://0X7F.0.0.1/x", "127.0.0.1 is a loopback address"),  # hex part, upper case
        ("https://0177.0.0.1/x", "127.0.0.1 is a loopback address"),  # octal part
        ("https://0177.1/x", "127.0.0.1 is a loopback address"),  # octal short form
        ("https://017700000001/x", "127.0.0.1 is a loopback address"),  # octal integer
        ("https://127.0.0.1./x", "127.0.0.1 is a loopback address"),  # trailing dot
        ("https://127.255.255.254/x", "is a loopback address"),  # all of 127/8
        ("https://0/x", "0.0.0.0 is an unspecified address"),  # single zero
        ("https://0.0.0.0/x", "0.0.0.0 is an unspecified address"),
        ("https://10.0.0.1/x", "is a private address"),
        ("https://172.16.5.4/x", "is a private address"),
        ("https://192.168.1.1/x", "is a private address"),
        ("https://169.254.169.254/latest/meta-data/", "is a cloud metadata address"),
        ("https://0xa9fea9fe/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
        ("https://169.254.1.1/x", "is a link-local address"),
        ("https://100.64.0.1/x", "is a carrier-grade NAT address"),
        ("https://100.100.100.200/x", "is a carrier-grade NAT address"),  # Alibaba metadata
        ("https://224.0.0.1/x", "is a multicast address"),
        ("https://240.0.0.1/x", "is a reserved address"),
        ("https://255.255.255.255/x", "is a reserved address"),  # broadcast
        ("https://198.18.0.1/x", "is a reserved address"),  # benchmarking
        ("https://[::1]/x", "[::1] is a loopback address"),
        ("https://[0:0:0:0:0:0:0:1]/x", "[::1] is a loopback address"),
        ("https://[::]/x", "[::] is an unspecified address"),
        ("https://[::ffff:127.0.0.1]/x", "[::ffff:7f00:1] is a loopback address"),  # IPv4-mapped, dotted
        ("https://[::ffff:7f00:1]/x", "[::ffff:7f00:1] is a loopback address"),  # IPv4-mapped, hex
        ("https://[::ffff:169.254.169.254]/x", "is a cloud metadata address"),
        ("https://[::127.0.0.1]/x", "is a reserved address"),  # IPv4-compatible (deprecated)
        ("https://[64:ff9b::7f00:1]/x", "is a loopback address"),  # NAT64 of loopback
        ("https://[2002:7f00:1::]/x", "is a loopback address"),  # 6to4 of loopback
        ("https://[fd00:ec2::254]/x", "is a cloud metadata address"),  # AWS IPv6 metadata
        ("https://[fc00::1]/x", "is a private address"),  # unique local
        ("https://[fe80::1]/x", "is a link-local address"),
        ("https://[ff02::1]/x", "is a multicast address"),
        ("https://[2001:db8::1]/x", "is a reserved address"),  # documentation
        ("https://localhost/x", "localhost is a loopback address"),
        ("https://LOCALHOST./x", "localhost is a loopback address"),
        ("https://push.localhost/x", "push.localhost is a loopback address"),
        ("https://a.b.localhost/x", "a.b.localhost is a loopback address"),
    ],
)
def test_non_public_ip_literals_and_localhost_are_refused_in_every_spelling(endpoint: str, reason: str) -> None:
    assert reason in refusal(DEFAULT, endpoint)


def test_public_ip_literal_not_on_the_list_is_refused() -> None:
    assert "8.8.8.8 is not on the push service allow-list" in refusal(DEFAULT, "https://134744072/x")


@pytest.mark.parametrize(
    ("allowlist", "endpoint"),
    [
        ("127.0.0.1", "https://127.0.0.1/x"),
        ("127.0.0.1", "https://2130706433/x"),
        ("127.0.0.1", "https://0x7f.1/x"),
        ("10.0.0.1", "https://012.0.0.1/x"),
        ("169.254.169.254", "https://169.254.169.254/latest/meta-data/"),
        ("100.64.0.1", "https://100.64.0.1/x"),
        ("[::1]", "https://[::1]/x"),
        ("[::ffff:7f00:1]", "https://[::ffff:127.0.0.1]/x"),
        ("[fd00:ec2::254]", "https://[fd00:ec2::254]/x"),
        ("localhost", "https://localhost/x"),
    ],
)
def test_pattern_match_on_a_non_public_ip_literal_is_still_refused(allowlist: str, endpoint: str) -> None:
    policy = EndpointPolicy.parse(allowlist)
    assert " address" in refusal(policy, endpoint)


def test_pattern_match_on_a_public_ip_literal_is_admitted() -> None:
    policy = EndpointPolicy.parse("93.184.216.34")
    assert policy.allows("https://93.184.216.34/x")
    assert policy.allows("https://1572395042/x")


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://256.0.0.1/x",
        "https://1.2.3.4.5/x",
        "https://4294967296/x",
        "https://08.0.0.1/x",
        "https://0x100000000/x",
        "https://1.2.65536/x",
        "https://fcm.googleapis.123/x",
    ],
)
def test_numeric_hosts_that_are_not_valid_addresses_are_refused(endpoint: str) -> None:
    assert "numeric host" in refusal(DEFAULT, endpoint)


def test_allowlist_entry_that_is_a_numeric_host_but_no_address_raises_at_parse() -> None:
    with pytest.raises(ValueError, match="numeric host"):
        EndpointPolicy.parse("256.0.0.1")


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://[::1/x",
        "https://[127.0.0.1]/x",
        "https://[::1]x/x",
        "https://[zz::1]/x",
    ],
)
def test_malformed_ipv6_hosts_are_refused(endpoint: str) -> None:
    assert "IPv6" in refusal(DEFAULT, endpoint)


# --- exact origins ---------------------------------------------------------------------------------------------------


LOCAL = EndpointPolicy.parse("http://127.0.0.1:8090")


def test_exact_loopback_origin_is_admitted_when_listed() -> None:
    LOCAL.check("http://127.0.0.1:8090/push/abc")
    assert LOCAL.allows("http://127.0.0.1:8090")
    assert LOCAL.allows("http://127.0.0.1:8090/?x=1")


def test_exact_loopback_origin_is_refused_when_not_listed() -> None:
    refusal(DEFAULT, "http://127.0.0.1:8090/push/abc")
    refusal(EndpointPolicy.parse("127.0.0.1"), "http://127.0.0.1:8090/push/abc")


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://127.0.0.1:8091/push/abc",  # other port
        "http://127.0.0.1/push/abc",  # default port
        "https://127.0.0.1:8090/push/abc",  # other scheme
        "http://127.0.0.2:8090/push/abc",  # other host
        "http://localhost:8090/push/abc",  # a name, not the listed address
        "http://[::1]:8090/push/abc",  # other address family
        "http://[::ffff:127.0.0.1]:8090/push/abc",
    ],
)
def test_exact_origin_admits_only_that_scheme_host_and_port(endpoint: str) -> None:
    refusal(LOCAL, endpoint)


def test_exact_origin_matches_any_spelling_of_the_same_address() -> None:
    assert LOCAL.allows("http://0x7f000001:8090/push/abc")
    assert LOCAL.allows("HTTP://127.1:8090/push/abc")


def test_exact_origin_admits_a_non_default_https_port() -> None:
    policy = EndpointPolicy.parse("https://push.example.com:8443")
    assert policy.allows("https://push.example.com:8443/x")
    assert not policy.allows("https://push.example.com/x")


def test_exact_origin_with_default_port_written_out_equals_the_bare_origin() -> None:
    assert EndpointPolicy.parse("http://push.test:80").allows("http://push.test/x")
    assert EndpointPolicy.parse("http://push.test").allows("http://push.test:80/x")


def test_exact_origin_admits_localhost_when_listed() -> None:
    assert EndpointPolicy.parse("http://localhost:8090").allows("http://LOCALHOST.:8090/x")


def test_exact_origin_also_admits_ipv6_loopback_when_listed() -> None:
    assert EndpointPolicy.parse("http://[::1]:8090").allows("http://[0:0::1]:8090/x")


# --- the allow-list itself -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "allowlist",
    [
        "http://127.0.0.1:8090/push",  # an origin has no path
        "http://127.0.0.1:8090?x",  # nor a query
        "http://user@127.0.0.1:8090",  # nor userinfo
        "ftp://files.example.com",  # nor another scheme
        "*",  # a wildcard over everything
        "*.com",  # a wildcard over a whole TLD
        "*.127.0.0.1",  # a wildcard over an address
        "push.*.example.com",  # wildcards only lead
        "fcm.googleapis.com/fcm",  # a pattern is a host
        "fcm googleapis com",
    ],
)
def test_malformed_allowlist_entry_raises_at_parse(allowlist: str) -> None:
    with pytest.raises(ValueError, match="allow-list entry"):
        EndpointPolicy.parse(allowlist)
