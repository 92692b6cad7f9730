"""The H5 lookup (README, "Overload"): results by code and ID ending, no platform needed."""
