"""Write the OpenAPI document to a file, as ``/openapi.json`` serves it (``make contract``).

The app is the embedded default's (SQLite, the in-process Redis stand-in) with throwaway
secrets: building the document opens no connection, so nothing else is needed.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path


def main(out: Path) -> None:
    from miniapp_api import create_app
    from miniapp_api.devserver import dev_secrets, embedded_environment
    from miniapp_api.ops.views import api_document

    with tempfile.TemporaryDirectory() as scratch:
        found = dev_secrets(Path(scratch) / "secrets.json")
        for name, value in embedded_environment(found, 8000, 8765).items():
            os.environ.setdefault(name, value)
        os.environ["MINIAPP_DATABASE__URL"] = f"sqlite:///{scratch}/unused.db"
        document = api_document(create_app())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
