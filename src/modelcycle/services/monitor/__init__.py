"""Monitoring: drift of current data against a reference, live data quality, performance.

``monitor.drift`` holds the drift engine: per-column drift tests behind a registry and
``compute_drift`` over two frames, giving a ``DriftReport``.
"""
