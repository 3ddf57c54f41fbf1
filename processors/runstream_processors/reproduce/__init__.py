"""Reproducing a run: what differs between two runs (``diff``), dataset versions and their
changes (``datasets``), fetching recorded content by SHA-256 (``fetch``), and rebuilding a
run's code, environment and data in a directory (``materialize``)."""
