"""Whom a client address stands for, for the limits counted per caller before login."""

from __future__ import annotations

import ipaddress


def client_network(address: str) -> str:
    """Whom an address stands for: itself for IPv4, its /64 for IPv6 (one subscriber gets a
    whole /64, so a limit per IPv6 address would be one per guess)."""
    if ":" not in address:
        return address
    try:
        network = ipaddress.IPv6Network(f"{address}/64", strict=False)
    except ValueError:
        return address
    return str(network)
