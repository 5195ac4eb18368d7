"""Registers kept by the justice bureaus (contact points, personnel, lists, supervisors, experts)."""
