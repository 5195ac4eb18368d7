"""Registers kept by the justice bureaus: invited supervisors, the expert panel, … (one module each)."""
