"""Screening rounds, sampling sites, staff, tubes and the scans that bind people to tubes."""
