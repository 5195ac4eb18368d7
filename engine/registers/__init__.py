"""Registers kept next to the procedures: personnel (执法人员), the six public lists, invited supervisors, the
expert panel, enterprise contact points … — one module per register."""
