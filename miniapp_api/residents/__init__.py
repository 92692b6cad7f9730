"""Residents (natural persons), the account-resident links, profiles, phones and family."""
