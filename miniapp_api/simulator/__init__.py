"""The mini-program simulator page of the embedded default (`make run`)."""
