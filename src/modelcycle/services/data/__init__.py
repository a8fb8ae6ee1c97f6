"""Data: sources, immutable dataset versions, validation, cleansing, splits and profiles."""
