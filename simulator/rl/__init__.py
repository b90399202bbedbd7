"""Learned scheduling: the observation encoder and decision rule (`observe`, `decide`), the
Gymnasium environment over the real engine (`env`) and trained agents as policies (`policy`)."""
