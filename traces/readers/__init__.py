"""Trace readers, one module per format; the registry lives in `traces.readers.registry`."""
