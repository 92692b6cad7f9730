"""The legal documents: the privacy guide, the terms, the data inventory, the third parties and
the separate consent for sensitive data, rendered from ``templates/legal/`` and the inventory
in ``miniapp_api/privacy/``; each has a version and the SHA-256 of what a reader is shown."""
