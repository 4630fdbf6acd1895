"""Prefect flows: daily_refresh, train_models, and their scheduled deployments (flows/deployments.py).

Importing the package sets two Prefect defaults unless the environment says otherwise:
- usage telemetry off (Prefect's and dbt's): the machines have no internet, and a local server's
  telemetry heartbeat only produces errors there;
- 120 s for the temporary local Prefect server to start. Prefect's 20 s default timed out once in CI on
  a busy 2-core machine ("Timed out while attempting to connect to ephemeral Prefect API server"), and a
  nightly run must not fail for that.
"""

import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
