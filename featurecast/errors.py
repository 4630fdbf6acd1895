"""Errors shared across featurecast's steps (ingest has its own in `featurecast.marketdata.errors`)."""

from __future__ import annotations


class NotReadyError(LookupError):
    """The warehouse lacks what a step needs: an earlier step (build, training, publishing) has not run."""
