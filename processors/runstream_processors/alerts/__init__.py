"""Alerts found in the stream: a metric gone NaN/Inf or diverging, a run stalled, crashed, ended.

``rules.py`` holds each rule, ``detector.py`` runs the metric and finish rules on every
batch the ingest core stores (embedded spool and Kafka worker alike) and the status rules
(stalled, crashed) on the ``runs`` view, ``store.py`` writes them to ``runstream.alerts``
(deduplicated by a deterministic id) and ``webhook.py`` posts new ones to a webhook.
"""
