"""The SSRF guard: which push endpoints this service may send a request to.

The one place the endpoint policy of DESIGN §5 lives. Token registration checks
an endpoint before storing it; the dispatcher checks it again before every
request, so the allow-list is parsed once into an `EndpointPolicy` and `check`
does no I/O.

Allow-list entries (comma-separated, whitespace trimmed, empty entries skipped):

- a host pattern: `fcm.googleapis.com` matches that host only;
  `*.push.services.mozilla.com` matches any subdomain at any depth
  (`a.push.services.mozilla.com`, `a.b.push.services.mozilla.com`) but not the
  bare apex `push.services.mozilla.com` — list the apex too if it is wanted.
  A pattern admits https on the default port only.
- an exact origin `scheme://host[:port]` (`http://127.0.0.1:8090`): the only way
  to admit plain http, a non-default port, or a host that is a non-public IP
  address or `localhost`. It admits that scheme, host and port and nothing else.

Hosts compare case-insensitively with a trailing dot dropped; IP literals
compare in canonical form, whichever spelling (`0x7f.1`, `2130706433`, …) the
endpoint uses. The policy never resolves DNS: a name that resolves to a private
address is out of reach here, which is why only named push services are listed.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from sentori_push import errors, settings

MAX_ENDPOINT_LENGTH = 2048

_DEFAULT_PORTS = {"http": 80, "https": 443}

_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<authority>[^/?#]*)(?P<rest>[/?#].*)?", re.DOTALL)
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?")
# A last label that is all digits or 0x-hex makes WHATWG URL parsers, curl and
# inet_aton read the whole host as an IPv4 address; no real TLD looks like that.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Explicit so the verdict does not depend on the Python version's idea of
# `is_global`; the `is_*` properties are checked as well.
_REFUSED_NETWORKS: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.ip_network(net), label)
    for net, label in (
        ("0.0.0.0/8", "an unspecified address"),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a carrier-grade NAT address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.169.254/32", "a cloud metadata address"),
        ("169.254.0.0/16", "a link-local address"),
        ("172.16.0.0/12", "a private address"),
        ("192.0.0.0/24", "a reserved address"),
        ("192.0.2.0/24", "a reserved address"),
        ("192.88.99.0/24", "a reserved address"),
        ("192.168.0.0/16", "a private address"),
        ("198.18.0.0/15", "a reserved address"),
        ("198.51.100.0/24", "a reserved address"),
        ("203.0.113.0/24", "a reserved address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),
        ("::/128", "an unspecified address"),
        ("::1/128", "a loopback address"),
        ("::/96", "a reserved address"),
        ("100::/64", "a reserved address"),
        ("2001:db8::/32", "a reserved address"),
        ("fd00:ec2::254/128", "a cloud metadata address"),
        ("fc00::/7", "a private address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a reserved address"),
        ("ff00::/8", "a multicast address"),
    )
)


def _ip_refusal(ip: IPAddress) -> str | None:
    """Why this address may not be reached through a pattern, or None if it is public."""
    if isinstance(ip, ipaddress.IPv6Address):
        # Addresses that carry an IPv4 address reach (or are translated to) it.
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in ipaddress.IPv6Network("64:ff9b::/96"):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return _ip_refusal(embedded)
    for network, label in _REFUSED_NETWORKS:
        if ip.version == network.version and ip in network:
            return label
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_private or ip.is_reserved or not ip.is_global:
        return "a non-public address"
    return None


def _parse_ipv4_number(part: str) -> int | None:
    if re.fullmatch(r"0x[0-9a-f]*", part):
        return int(part[2:] or "0", 16)
    if re.fullmatch(r"0[0-7]+", part):
        return int(part, 8)
    if re.fullmatch(r"0|[1-9][0-9]*", part):
        return int(part, 10)
    return None


def _parse_numeric_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """inet_aton / WHATWG forms: `a.b.c.d`, `a.b.c` (c 16-bit), `a.b` (b 24-bit), `a` (32-bit), each part
    decimal, octal (leading 0) or hex (0x). None when the host is numeric but no valid address."""
    parts = host.split(".")
    if len(parts) > 4:
        return None
    numbers = [_parse_ipv4_number(p) for p in parts]
    if any(n is None for n in numbers):
        return None
    values = [n for n in numbers if n is not None]
    *head, last = values
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(values)):
        return None
    value = last
    for i, n in enumerate(head):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


@dataclass(frozen=True)
class _Host:
    name: str  # canonical: lowercase domain without trailing dot, or the IP address's canonical text
    ip: IPAddress | None


def _parse_host(raw: str) -> _Host:
    """Canonical host from the authority's host part; raises ValueError with a short reason."""
    if raw.startswith("["):
        if not raw.endswith("]"):
            raise ValueError("has a malformed IPv6 host")
        try:
            ip6 = ipaddress.IPv6Address(raw[1:-1])
        except ValueError as exc:
            raise ValueError("has a malformed IPv6 host") from exc
        return _Host(f"[{ip6.compressed}]", ip6)
    host = raw.lower()
    if host.endswith("."):
        host = host[:-1]
    if not host:
        raise ValueError("has no host")
    labels = host.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        ip4 = _parse_numeric_ipv4(host)
        if ip4 is None:
            raise ValueError("has a numeric host that is not a valid IPv4 address")
        return _Host(str(ip4), ip4)
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError("has a malformed host")
    if labels[-1] == "localhost":
        # Resolvers answer `localhost` and `*.localhost` with loopback without asking DNS (RFC 6761).
        return _Host(host, ipaddress.IPv4Address("127.0.0.1"))
    return _Host(host, None)


@dataclass(frozen=True)
class _Origin:
    scheme: str
    host: _Host
    port: int


def _parse_url(url: str) -> tuple[_Origin, str]:
    """Origin and the rest of the URL (path, query, fragment); raises ValueError with a short reason."""
    if any(not ("\x21" <= ch <= "\x7e") for ch in url):
        raise ValueError("contains whitespace, control or non-ASCII characters")
    if "\\" in url:
        # Browsers read `\` as `/`, other parsers do not: the host would depend on who parses it.
        raise ValueError("contains a backslash")
    match = _URL.fullmatch(url)
    if match is None:
        raise ValueError("is not an absolute http(s) URL")
    scheme = match["scheme"].lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"uses the {scheme} scheme; only https is allowed")
    authority = match["authority"]
    if "@" in authority:
        raise ValueError("contains userinfo")
    if "%" in authority:
        raise ValueError("has a percent-encoded host")
    if authority.startswith("["):
        end = authority.find("]")
        host_part, after = authority[: end + 1], authority[end + 1 :]
        if end < 0 or (after and not after.startswith(":")):
            raise ValueError("has a malformed IPv6 host")
        has_port, port_part = bool(after), after[1:]
    else:
        if authority.count(":") > 1:
            raise ValueError("has a malformed host")
        host_part, colon, port_part = authority.partition(":")
        has_port = bool(colon)
    if not host_part:
        raise ValueError("has no host")
    host = _parse_host(host_part)
    if has_port:
        # No leading zeros: browsers never write them, and not every client reads them alike.
        if not re.fullmatch(r"[1-9][0-9]{0,4}", port_part) or int(port_part) > 65535:
            raise ValueError("has a malformed port")
        port = int(port_part)
    else:
        port = _DEFAULT_PORTS[scheme]
    return _Origin(scheme, host, port), match["rest"] or ""


@dataclass(frozen=True)
class EndpointPolicy:
    """A parsed allow-list. Build it once with `parse`; `check` is cheap."""

    exact_hosts: frozenset[str]
    wildcard_suffixes: tuple[str, ...]  # ".push.services.mozilla.com" for "*.push.services.mozilla.com"
    origins: frozenset[_Origin]

    @classmethod
    def parse(cls, allowlist: str) -> EndpointPolicy:
        """Parse a SENTORI_ENDPOINT_ALLOWLIST value; empty means the default list.

        A malformed entry raises ValueError naming it: a misconfigured guard should stop the
        function at cold start, not quietly admit or refuse everything.
        """
        entries = [entry.strip() for entry in allowlist.split(",") if entry.strip()]
        if not entries:
            entries = [entry.strip() for entry in settings.DEFAULT_ENDPOINT_ALLOWLIST.split(",")]
        exact: set[str] = set()
        suffixes: list[str] = []
        origins: set[_Origin] = set()
        for entry in entries:
            try:
                if "://" in entry:
                    origin, rest = _parse_url(entry)
                    if rest not in ("", "/"):
                        raise ValueError("an origin has no path, query or fragment")
                    origins.add(origin)
                elif entry.startswith("*."):
                    suffix = _parse_host(entry[2:])
                    if suffix.ip is not None or "." not in suffix.name:
                        raise ValueError("a wildcard needs a domain of at least two labels")
                    suffixes.append("." + suffix.name)
                else:
                    exact.add(_parse_host(entry).name)
            except ValueError as exc:
                raise ValueError(f"endpoint allow-list entry {entry!r} is invalid: {exc}") from exc
        return cls(frozenset(exact), tuple(suffixes), frozenset(origins))

    def check(self, endpoint: str) -> None:
        """Return None when the endpoint may be requested; raise EndpointNotAllowed otherwise."""
        if not isinstance(endpoint, str) or not endpoint:
            raise errors.EndpointNotAllowed("the endpoint is empty")
        if len(endpoint) > MAX_ENDPOINT_LENGTH:
            raise errors.EndpointNotAllowed(f"the endpoint is longer than {MAX_ENDPOINT_LENGTH} characters")
        try:
            origin, _ = _parse_url(endpoint)
        except ValueError as exc:
            raise errors.EndpointNotAllowed(f"the endpoint {exc}") from exc
        if origin in self.origins:
            return
        host = origin.host
        if origin.scheme != "https":
            raise errors.EndpointNotAllowed(f"plain http to {host.name} is allowed only for a listed exact origin")
        if origin.port != _DEFAULT_PORTS["https"]:
            raise errors.EndpointNotAllowed(f"port {origin.port} on {host.name} is not the default https port")
        # Before the pattern match, so a listed address is refused all the same and the reason says why.
        if host.ip is not None and (refusal := _ip_refusal(host.ip)) is not None:
            raise errors.EndpointNotAllowed(f"host {host.name} is {refusal}")
        if not self._host_matches(host.name):
            raise errors.EndpointNotAllowed(f"host {host.name} is not on the push service allow-list")

    def allows(self, endpoint: str) -> bool:
        try:
            self.check(endpoint)
        except errors.EndpointNotAllowed:
            return False
        return True

    def address_refusal(self, host: str, port: int, address: str) -> str | None:
        """Why `host` may not be reached at the address DNS gave for it, or None when it may.

        `check` sees names only; this closes DNS rebinding: an allow-listed name that
        resolves to a private, loopback or metadata address is refused unless an
        exact origin names that host and port.
        """
        name = host.lower().rstrip(".")
        if any(o.host.name == name and o.port == port for o in self.origins):
            return None
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return f"{name} resolved to something that is not an IP address"
        refusal = _ip_refusal(ip)
        return f"host {name} resolves to {refusal}" if refusal else None

    def _host_matches(self, name: str) -> bool:
        return name in self.exact_hosts or name.endswith(self.wildcard_suffixes)
