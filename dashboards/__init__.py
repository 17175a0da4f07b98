"""Grafana dashboards as code (grafana-foundation-sdk): one package per dashboard, JSON in deploy/grafana."""
