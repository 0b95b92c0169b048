"""The push providers a device or credential may name; only Web Push is delivered."""

from __future__ import annotations

PROVIDERS = ("apns", "fcm", "webpush", "hcm", "mipush")
WEBPUSH = "webpush"


def check_provider(provider: object) -> str:
    """The provider, or 400 invalidProvider naming the five."""
    from sentori_push.errors import InvalidProvider  # errors imports PROVIDERS from here

    if not isinstance(provider, str) or provider not in PROVIDERS:
        raise InvalidProvider(provider)
    return provider
