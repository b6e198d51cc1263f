"""Deploying releases: values layering, chart preparation, render, upgrade, health, rollback.

Plain Python over the clients in hub_ops.clients (no Dagster import), so the CLI, the
Dagster jobs and the tests share one implementation.
"""
