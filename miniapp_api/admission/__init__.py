"""Admission control (README, "Overload"): every request admitted or refused before any work.

- :mod:`.routes`: the traffic class of a request, read from the routes' ``@operation``;
- :mod:`.adaptive`: the per-worker in-flight limit learned from latency;
- :mod:`.local_bucket`: the per-worker fallback limit while Redis is unreachable;
- :mod:`.refusals`: refused callers remembered until they may come back;
- :mod:`.gate`: the gate that combines them (one Redis pipeline per request);
- :mod:`.middleware`: the gate in front of Flask, answering refusals without Flask;
- :mod:`.door`: the gunicorn worker that refuses when its threads are all taken;
- :mod:`.install`: wiring it into the app (``app.extensions[GATE_KEY]``).

It decides with the vocabulary of :mod:`miniapp_api.overload` and knows no feature.
"""
