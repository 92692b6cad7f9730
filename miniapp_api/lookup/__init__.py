"""The H5 lookup (DESIGN §7): results by registration code and ID ending, no platform needed."""
