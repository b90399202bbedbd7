"""Replays schedules for real with TensorFlow/Keras jobs.

Also home of the `gpusched` CLI, the only layer that sees all others.
"""
