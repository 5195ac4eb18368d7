"""Figures computed from the platform's own data (assessment, rollups)."""
