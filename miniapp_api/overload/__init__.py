"""Overload protection (DESIGN §7): admission control, rejections that help, degraded modes.

- :mod:`.routes`: traffic class and channel of a request (read from ``@operation``);
- :mod:`.gcra`: the O(1) rate-limit script (Redis, one key, cluster-safe);
- :mod:`.adaptive`: the per-worker in-flight limit learned from latency;
- :mod:`.admission`: the gate that combines them (one Redis pipeline per request);
- :mod:`.middleware`: the gate in front of Flask, answering refusals without Flask;
- :mod:`.rejection`: the 429/503 contract with its alternatives;
- :mod:`.responses`: the same contract for platform throttling and Redis failures in views;
- :mod:`.controls`: run-time limits and modes shared through Redis;
- :mod:`.metrics`: Prometheus counters;
- :mod:`.install`: wiring it into the app.

Nothing is imported here, so that low-level modules (``errors``) can use ``.rejection``.
"""
