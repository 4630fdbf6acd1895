"""Regime persistence in MongoDB, through pymongo's API only.

`MONGODB_URI` set: a real MongoDB server through pymongo. Unset: the embedded default, montydb with its
SQLite storage under `$FEATURECAST_DATA_DIR/mongo`, a documented pymongo-compatible stand-in that persists
to disk (no MongoDB server can be installed on these machines). Tests run the same contract against
mongomock-ng (in memory), the embedded default, and a real server when `MONGODB_URI` is set.

Collections: `regime_labels`, one document per (scope, date, model_version), written by idempotent
upserts; `regime_models`, one document per model version, with `is_current` per scope and a change
marker (`labels_through`, `labels_written_at`) that the API's in-memory cache watches. Dates are ISO
strings (YYYY-MM-DD): BSON has no date-only type, and ISO strings sort correctly.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

LABELS, MODELS = "regime_labels", "regime_models"


class RegimeStore:
    def __init__(self, database: Any, *, create_indexes: bool = True) -> None:
        self.db = database
        self.labels = database[LABELS]
        self.models = database[MODELS]
        if not create_indexes:  # a reader (the API) that opens the store often leaves them to the writer
            return
        # Unique indexes where the backend supports them (montydb accepts and ignores them).
        self.labels.create_index([("scope", 1), ("date", 1), ("model_version", 1)], unique=True)
        self.labels.create_index([("scope", 1), ("model_version", 1), ("date", -1)])
        self.models.create_index([("model_version", 1)], unique=True)

    def upsert_labels(self, documents: Iterable[dict[str, Any]]) -> int:
        """Insert or replace labels keyed by (scope, date, model_version). Keys not stored yet go in one
        ordered insert_many (fast on every backend); existing keys are updated one by one."""
        docs = list(documents)
        existing: set[tuple[str, str, str]] = set()
        for scope, version in {(d["scope"], d["model_version"]) for d in docs}:
            dates = [d["date"] for d in docs if d["scope"] == scope and d["model_version"] == version]
            found = self.labels.find(
                {"scope": scope, "model_version": version, "date": {"$in": dates}}, {"_id": 0, "date": 1}
            )
            existing |= {(scope, f["date"], version) for f in found}
        fresh = [dict(d) for d in docs if (d["scope"], d["date"], d["model_version"]) not in existing]
        if fresh:
            self.labels.insert_many(fresh, ordered=True)
        for doc in docs:
            key = {"scope": doc["scope"], "date": doc["date"], "model_version": doc["model_version"]}
            if (key["scope"], key["date"], key["model_version"]) in existing:
                self.labels.update_one(key, {"$set": doc})
        return len(docs)

    def upsert_model(self, document: dict[str, Any], *, scope: str, current: bool) -> None:
        if current:
            self.models.update_many({"scope": scope, "is_current": True}, {"$set": {"is_current": False}})
        self.models.update_one(
            {"model_version": document["model_version"]},
            {"$set": {**document, "scope": scope, "is_current": current}},
            upsert=True,
        )

    def mark_labels_written(self, scope: str, model_version: str, through: str | None) -> None:
        """Record on the model document that its labels changed (readers' caches compare this marker,
        one small document, instead of scanning the labels)."""
        from datetime import UTC, datetime

        self.models.update_one(
            {"model_version": model_version, "scope": scope},
            {"$set": {"labels_through": through, "labels_written_at": datetime.now(UTC).isoformat()}},
        )

    def current_model(self, scope: str) -> dict[str, Any] | None:
        return self.models.find_one({"scope": scope, "is_current": True}, {"_id": 0})

    def last_date(self, scope: str, model_version: str) -> str | None:
        found = list(
            self.labels.find({"scope": scope, "model_version": model_version}, {"_id": 0, "date": 1})
            .sort("date", -1)
            .limit(1)
        )
        return found[0]["date"] if found else None

    def history(
        self, scope: str, model_version: str, *, start: str | None = None, end: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The newest `limit` labels between start and end (inclusive), newest first."""
        query: dict[str, Any] = {"scope": scope, "model_version": model_version}
        bounds = {k: v for k, v in (("$gte", start), ("$lte", end)) if v is not None}
        if bounds:
            query["date"] = bounds
        return list(self.labels.find(query, {"_id": 0}).sort("date", -1).limit(limit))

    def count(self, scope: str, model_version: str | None = None) -> int:
        query = {"scope": scope} | ({"model_version": model_version} if model_version else {})
        return self.labels.count_documents(query)

    def scopes(self) -> list[str]:
        return sorted({m["scope"] for m in self.models.find({"is_current": True}, {"_id": 0, "scope": 1})})


def open_store(
    mongodb_uri: str | None, embedded_dir: Any, database: str = "featurecast", *, reader: bool = False
) -> tuple[RegimeStore, Any]:
    """(store, client): a real server when `mongodb_uri` is given, else the embedded on-disk stand-in.
    A `reader` does not (re)create indexes."""
    if mongodb_uri:
        import pymongo

        client = pymongo.MongoClient(mongodb_uri, serverSelectionTimeoutMS=5000)
    else:
        from montydb import MontyClient, set_storage

        embedded_dir.mkdir(parents=True, exist_ok=True)
        if not (embedded_dir / "monty.storage.cfg").exists():
            set_storage(str(embedded_dir), storage="sqlite")
        client = MontyClient(str(embedded_dir))
    return RegimeStore(client[database], create_indexes=not reader), client
