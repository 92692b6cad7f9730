"""The HAProxy front door (README, "Overload"), configured from the app itself.

- :mod:`.traffic`: ``traffic.map``, each route's class, as the admission gate classifies it;
- :mod:`.bodies`: the 429/503 bodies HAProxy sends, rendered by the app's rejection contract;
- :mod:`.limits`: the app's per-user quota as stick-table thresholds;
- :mod:`.config`: ``haproxy.cfg`` from ``config/haproxy.cfg.j2``, and :func:`write_config`;
- :mod:`.commands`: ``miniapp edge render`` and ``miniapp edge map``.

It needs the whole app (its routes), so it sits with the entry points in the layers.
"""

from miniapp_api.edge.config import write_config

__all__ = ["write_config"]
