"""gunicorn's entry point: ``MINIAPP_ENV=production gunicorn -c config/gunicorn.conf.py wsgi:app``.

``MINIAPP_ENV`` must be said (in the environment or the env file): without it the app would
start with the development settings (the emulator's URLs, the simulator page), which is never
what a gunicorn start means.
"""

import os

from miniapp_api import create_app
from miniapp_api.settings import load_env_file

# gunicorn's config has read it already (workers inherit that); this is for any other server.
load_env_file()
if not os.environ.get("MINIAPP_ENV"):
    raise SystemExit(
        "MINIAPP_ENV is not set: say MINIAPP_ENV=production (or staging: production-shaped "
        "with the platform emulator; development: `make run`)"
    )

app = create_app()
