"""Tests of the notify feature: message data, retry policy."""
