"""``runstream report``: one self-contained HTML file about a set of runs.

:mod:`.data` gathers what the store's views say about the runs, :mod:`.charts` turns it
into SVG geometry, :mod:`.render` fills the template (autoescaped: run names, keys and
tags are whatever a training job logged). The file loads nothing and runs no script.
"""
