"""A bare Flask hello endpoint: the yardstick the result lookup is measured against.

``gunicorn -c config/gunicorn.conf.py --pythonpath bench _hello_app:app`` (same settings as
the app). It reads no header and touches nothing; what it costs is Flask and gunicorn alone.
"""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/hello")
def hello() -> str:
    return "Hello, World!"
