"""Key rotation: ``miniapp keys`` re-encrypts and re-indexes stored personal data under the
current data and index keys (``rotate.py``), while the service runs."""
