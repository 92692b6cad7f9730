"""Login through the platforms, our session tokens, and the account behind a token."""
