"""Registers kept per unit beside the procedures (personnel, the six public lists …)."""
