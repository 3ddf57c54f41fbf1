"""From bytes to the store: one core (``core.py``) and the embedded spool source (``spool.py``).

The Kafka worker (``worker/``) is the other source; it drives the same core. Import from
the modules: ``pending.py`` answers "anything new?" without loading the store client or Arrow.
"""
