"""Metrics, scoring, baselines, tables, figures and the report."""
