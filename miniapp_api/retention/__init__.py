"""Retention: what outlived its configured period ([RETENTION]) is deleted in short batches."""
