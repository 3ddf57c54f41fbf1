"""runstream's Grafana dashboards as code (grafana-foundation-sdk).

``python -m dashboards.build`` writes every dashboard to ``dashboards/<name>.json``, which
docker-compose provisions as is; ``--out DIR`` writes elsewhere (the staleness test does).
"""
