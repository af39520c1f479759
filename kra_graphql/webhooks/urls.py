"""Which URLs a webhook may call.

Always: http or https, a host, no credentials. In production (unless
WEBHOOK_ALLOW_PRIVATE) also none whose host resolves to an address that is not public
(loopback, private, link-local, ...): a webhook must not become a way to reach the
server's own network. Checked at creation and again at every delivery, since DNS
answers change; a delivery then connects to the very address it checked.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from urllib.parse import SplitResult, urlsplit

from kra_graphql.config import Settings
from kra_graphql.errors import BadUserInput

MAX_URL_LENGTH = 2048
RESOLVE_TIMEOUT_S = 5.0

IPAddress = IPv4Address | IPv6Address


class UnsafeUrl(Exception):
    """The URL may not be called; the message says why, for the caller or the record."""


def checks_addresses(settings: Settings) -> bool:
    return settings.is_production and not settings.webhook_allow_private


def check_url_syntax(url: str, *, field: str = "url") -> SplitResult:
    if len(url) > MAX_URL_LENGTH:
        raise BadUserInput(f"at most {MAX_URL_LENGTH} characters", field=field)
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise BadUserInput("not a URL", field=field) from None
    if parts.scheme not in {"http", "https"}:
        raise BadUserInput("must be an http:// or https:// URL", field=field)
    if "@" in parts.netloc:
        raise BadUserInput("must not hold a user name or password", field=field)
    if not parts.hostname:
        raise BadUserInput("must name a host", field=field)
    return parts


def port_of(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)


async def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ip_address(host)]
    except ValueError:
        pass
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
    except (OSError, TimeoutError):
        raise UnsafeUrl(f"host {host} does not resolve") from None
    addresses = list(dict.fromkeys(ip_address(info[4][0]) for info in infos))
    if not addresses:
        raise UnsafeUrl(f"host {host} does not resolve")
    return addresses


def refusal(address: IPAddress) -> str | None:
    """Why this address may not be called, or None when it is a public one."""
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_private:
        return "private"
    if not address.is_global or address.is_multicast:
        return "not public"
    return None


async def public_addresses(parts: SplitResult) -> list[IPAddress]:
    """Every address the host resolves to, all public; else UnsafeUrl."""
    host = parts.hostname or ""
    addresses = await resolve(host, port_of(parts))
    for address in addresses:
        reason = refusal(address)
        if reason is not None:
            raise UnsafeUrl(f"host {host} resolves to a {reason} address ({address})")
    return addresses


@dataclass(frozen=True, slots=True)
class Target:
    """Where a delivery goes: the URL, and the address to connect to when it was checked."""

    url: str
    address: IPAddress | None = None


async def target_of(settings: Settings, url: str) -> Target:
    """The delivery's target, checked as creation checked it; raises UnsafeUrl."""
    try:
        parts = check_url_syntax(url)
    except BadUserInput as error:
        raise UnsafeUrl(error.message) from None
    if not checks_addresses(settings):
        return Target(url=url)
    addresses = await public_addresses(parts)
    return Target(url=url, address=addresses[0])


async def check_webhook_url(settings: Settings, url: str, *, field: str = "url") -> str:
    """The URL as it will be stored, or BadUserInput naming `field`."""
    parts = check_url_syntax(url, field=field)
    if checks_addresses(settings):
        try:
            await public_addresses(parts)
        except UnsafeUrl as error:
            raise BadUserInput(str(error), field=field) from None
    return parts.geturl()
