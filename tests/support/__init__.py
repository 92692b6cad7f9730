"""Test helpers: ID numbers that pass validation, a driver for the emulated phones, API clients."""
