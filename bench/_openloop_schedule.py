"""What an open-loop run sends and when: streams of Poisson arrivals, fixed before the run.

A :class:`Schedule` is every request of a run in order of intended send time, with the bytes
to send and the loopback address to send them from (:mod:`_openloop` runs it).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Stream:
    """Poisson arrivals at ``rate``/s, each request one of ``requests`` at random.

    ``sources``: if given, the loopback address each request is sent from (parallel to
    ``requests``), so that a proxy counting per client address sees many clients; requests
    from one address share that address's keep-alive connections and no other's.
    """

    tag: str
    rate: float
    requests: Sequence[bytes]
    sources: Sequence[str] = ()


@dataclass(frozen=True)
class Segment:
    """``seconds`` of the streams, all at once."""

    seconds: float
    streams: Sequence[Stream]


@dataclass
class Schedule:
    """Every request of a run, in order of intended send time (seconds from the start)."""

    at: list[float]
    payload: list[bytes]
    tag: list[int]
    tags: list[str]
    seconds: float
    source: list[str]  # the address to send from (LOOPBACK unless the stream gave others)

    @classmethod
    def build(cls, segments: Sequence[Segment], seed: int = 1) -> Schedule:
        tags: list[str] = []
        merged: list[tuple[float, int, bytes, str]] = []
        offset = 0.0
        for k, segment in enumerate(segments):
            for stream in segment.streams:
                if stream.tag not in tags:
                    tags.append(stream.tag)
                index = tags.index(stream.tag)
                if stream.rate <= 0:
                    continue
                # One generator per stream and segment: a stream's arrivals are the same
                # whatever other streams run beside it (runs with and without an extra
                # stream compare request for request).
                rng = random.Random(f"{seed}/{k}/{stream.tag}")
                requests, sources = stream.requests, stream.sources
                t = offset + rng.expovariate(stream.rate)
                while t < offset + segment.seconds:
                    j = rng.randrange(len(requests))  # draws as rng.choice(requests) did
                    merged.append((t, index, requests[j], sources[j] if sources else LOOPBACK))
                    t += rng.expovariate(stream.rate)
            offset += segment.seconds
        merged.sort(key=lambda item: item[0])
        return cls(
            [m[0] for m in merged],
            [m[2] for m in merged],
            [m[1] for m in merged],
            tags,
            offset,
            [m[3] for m in merged],
        )
