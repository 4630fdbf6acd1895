"""Prefect flows: daily_refresh, train_models, and their scheduled deployments (flows/deployments.py).

Importing the package turns Prefect's and dbt's usage telemetry off unless the environment says otherwise:
the machines have no internet, and a local server's telemetry heartbeat only produces errors there.
"""

import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
