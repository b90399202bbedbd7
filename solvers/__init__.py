"""Offline schedulers (CP-SAT and heuristics) that return the simulator's `Schedule` type."""
