"""The data inventory: every personal field the service keeps (columns, Redis keys, log
fields), with purpose, legal basis, retention and recipients, as data the legal pages render.

Imports nothing of the app but itself: ``tests/unit/test_data_inventory.py`` holds it against
the models and the source.
"""
