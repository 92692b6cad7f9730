"""Registration codes: signed tokens a scanner verifies offline, valid as screenshots (§5)."""
