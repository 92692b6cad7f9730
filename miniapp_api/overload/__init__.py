"""What every layer needs to say "not now" (README, "Overload"): the shared vocabulary of
overload, below the features that raise it and the gate that decides it.

- :mod:`.rejection`: the 429/503 contract with its alternatives; :class:`~.rejection.Rejected`
  is what a service raises to refuse with it; the caller's channel;
- :mod:`.renderer`: the contract as this deployment answers it (one per app);
- :mod:`.controls`: run-time limits and modes shared through Redis, a worker's local copy;
- :mod:`.gcra`: the O(1) rate-limit script (Redis, one key, cluster-safe);
- :mod:`.waiting_room`: queue tickets for profile writes;
- :mod:`.metrics`: Prometheus counters.

The gate that applies them to every request is :mod:`miniapp_api.admission`.
"""
