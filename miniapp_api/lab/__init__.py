"""Labs: signed machine-to-machine result uploads, idempotent, with explicit amendments."""
