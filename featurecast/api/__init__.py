"""The HTTP app: FastAPI over published serving snapshots (no warehouse access per request)."""
