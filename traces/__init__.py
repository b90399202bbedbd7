"""Workloads: the job data model, trace readers for public GPU-cluster traces, synthetic generators."""
