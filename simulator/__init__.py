"""Discrete-event model of a GPU cluster: cluster, engine, policies, schedules, metrics."""
