"""Review mode: the platforms' review teams log in to a sandbox of synthetic people."""
