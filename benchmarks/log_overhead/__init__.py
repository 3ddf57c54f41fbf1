"""SDK logging overhead: runstream's ``run.log()`` side by side with its peers, in one run.

Run from the repo root with the peers venv (see benchmarks/README.md)::

    benchmarks/.venv-peers/bin/python -m benchmarks.log_overhead

``common`` (the logged dict, paths), ``trackers`` (one adapter per tracker), ``measure``
(timing and memory phases in child processes), ``report`` (machine facts, markdown),
``cli`` (the command line; ``__main__`` runs it).
"""
