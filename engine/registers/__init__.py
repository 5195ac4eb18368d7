"""Registers kept next to the procedures: personnel (执法人员), public lists, … — one module per register."""
