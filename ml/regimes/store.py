"""Regime persistence in MongoDB, through pymongo's API only.

`MONGODB_URI` set: a real MongoDB server through pymongo. Unset: the embedded default, montydb with its
SQLite storage under `$FEATURECAST_DATA_DIR/mongo`, a documented pymongo-compatible stand-in that persists
to disk (no MongoDB server can be installed on these machines). Tests run the same contract against
mongomock-ng (in memory), the embedded default, and a real server when `MONGODB_URI` is set.

Collections:
- `regime_history`: the point-in-time history the API serves, one document per (scope, date), made by the
  model version that was current that day (its fit ended before the day); append-only.
- `regime_in_sample`: the current version's relabelling of every day (in-sample in parameters for the
  days it was fitted on), one document per (scope, date, model_version); replaced when a new version is
  fitted.
- `regime_models`: one document per model version, with `is_current` per scope and a change marker
  (`labels_through`, `labels_written_at`) that the API's in-memory cache watches.
All writes are idempotent upserts. Dates are ISO strings (YYYY-MM-DD): BSON has no date-only type, and
ISO strings sort correctly. (`regime_labels`, the collection of releases before the point-in-time
history, is no longer read or written.)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

HISTORY, IN_SAMPLE, MODELS = "regime_history", "regime_in_sample", "regime_models"


class RegimeStore:
    def __init__(self, database: Any, *, create_indexes: bool = True) -> None:
        self.db = database
        self.history_labels = database[HISTORY]
        self.in_sample_labels = database[IN_SAMPLE]
        self.models = database[MODELS]
        if not create_indexes:  # a reader (the API) that opens the store often leaves them to the writer
            return
        # Unique indexes where the backend supports them (montydb accepts and ignores them).
        self.history_labels.create_index([("scope", 1), ("date", 1)], unique=True)
        self.in_sample_labels.create_index([("scope", 1), ("date", 1), ("model_version", 1)], unique=True)
        self.models.create_index([("model_version", 1)], unique=True)

    def upsert_history(self, documents: Iterable[dict[str, Any]]) -> int:
        """Insert or replace point-in-time labels keyed by (scope, date)."""
        return _upsert(self.history_labels, list(documents), ("scope", "date"))

    def upsert_in_sample(self, documents: Iterable[dict[str, Any]]) -> int:
        """Insert or replace in-sample labels keyed by (scope, date, model_version)."""
        return _upsert(self.in_sample_labels, list(documents), ("scope", "date", "model_version"))

    def drop_in_sample_except(self, scope: str, model_version: str) -> None:
        """Forget the in-sample relabelling of versions other than `model_version` (the current one)."""
        stale = {"scope": scope, "model_version": {"$ne": model_version}}
        if self.in_sample_labels.find_one(stale, {"_id": 1}):  # montydb fails deleting from an empty collection
            self.in_sample_labels.delete_many(stale)

    def upsert_model(self, document: dict[str, Any], *, scope: str, current: bool) -> None:
        if current:
            self.models.update_many({"scope": scope, "is_current": True}, {"$set": {"is_current": False}})
        self.models.update_one(
            {"model_version": document["model_version"]},
            {"$set": {**document, "scope": scope, "is_current": current}},
            upsert=True,
        )

    def mark_labels_written(self, scope: str, model_version: str, through: str | None) -> None:
        """Record on the current model document that labels changed (readers' caches compare this marker,
        one small document, instead of scanning the labels), and that no write is pending."""
        from datetime import UTC, datetime

        self.models.update_one(
            {"model_version": model_version, "scope": scope},
            {
                "$set": {"labels_through": through, "labels_written_at": datetime.now(UTC).isoformat()},
                "$unset": {"labels_pending_from": ""},
            },
        )

    def mark_pending(self, scope: str, model_version: str, first: str) -> None:
        """Record, before writing labels from `first` on, that a write is under way: a run that dies before
        `mark_labels_written` leaves the mark, and the next run then checks every key it writes."""
        self.models.update_one(
            {"model_version": model_version, "scope": scope}, {"$set": {"labels_pending_from": first}}
        )

    def insert_history(self, documents: list[dict[str, Any]]) -> int:
        """Insert labels of days known to have none (after the marker, no write pending): no key lookups,
        which the embedded store answers by scanning every label."""
        if documents:
            self.history_labels.insert_many([dict(d) for d in documents], ordered=True)
        return len(documents)

    def insert_in_sample(self, documents: list[dict[str, Any]]) -> int:
        """Like `insert_history`, for the current version's in-sample labels."""
        if documents:
            self.in_sample_labels.insert_many([dict(d) for d in documents], ordered=True)
        return len(documents)

    def current_model(self, scope: str) -> dict[str, Any] | None:
        return self.models.find_one({"scope": scope, "is_current": True}, {"_id": 0})

    def last_date(self, scope: str, model_version: str | None = None) -> str | None:
        """The newest day of the point-in-time history, or of `model_version`'s in-sample labels."""
        collection = self.history_labels if model_version is None else self.in_sample_labels
        query = {"scope": scope} | ({"model_version": model_version} if model_version else {})
        found = list(collection.find(query, {"_id": 0, "date": 1}).sort("date", -1).limit(1))
        return found[0]["date"] if found else None

    def history(
        self,
        scope: str,
        model_version: str | None = None,
        *,
        start: str | None = None,
        end: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """The newest `limit` labels between start and end (inclusive), newest first: the point-in-time
        history, or `model_version`'s in-sample relabelling when a version is given."""
        collection = self.history_labels if model_version is None else self.in_sample_labels
        query: dict[str, Any] = {"scope": scope} | ({"model_version": model_version} if model_version else {})
        bounds = {k: v for k, v in (("$gte", start), ("$lte", end)) if v is not None}
        if bounds:
            query["date"] = bounds
        return list(collection.find(query, {"_id": 0}).sort("date", -1).limit(limit))

    def count(self, scope: str, model_version: str | None = None) -> int:
        collection = self.history_labels if model_version is None else self.in_sample_labels
        query = {"scope": scope} | ({"model_version": model_version} if model_version else {})
        return collection.count_documents(query)

    def models_for(self, scope: str) -> list[dict[str, Any]]:
        """Every model version of `scope`, oldest fit first."""
        return sorted(self.models.find({"scope": scope}, {"_id": 0}), key=lambda m: (m["fit_end"], m["model_version"]))

    def scopes(self) -> list[str]:
        return sorted({m["scope"] for m in self.models.find({"is_current": True}, {"_id": 0, "scope": 1})})


def _upsert(collection: Any, docs: list[dict[str, Any]], key_fields: tuple[str, ...]) -> int:
    """Keys not stored yet go in one ordered insert_many (fast on every backend); existing keys are
    updated one by one."""
    existing: set[tuple[Any, ...]] = set()
    groups: dict[tuple[Any, ...], list[str]] = {}
    for doc in docs:
        groups.setdefault(tuple(doc[f] for f in key_fields if f != "date"), []).append(doc["date"])
    for group, dates in groups.items():
        query = dict(zip([f for f in key_fields if f != "date"], group, strict=True)) | {"date": {"$in": dates}}
        found = collection.find(query, {"_id": 0, **{f: 1 for f in key_fields}})
        existing |= {tuple(f[k] for k in key_fields) for f in found}
    fresh = [dict(d) for d in docs if tuple(d[f] for f in key_fields) not in existing]
    if fresh:
        collection.insert_many(fresh, ordered=True)
    for doc in docs:
        key = tuple(doc[f] for f in key_fields)
        if key in existing:
            collection.update_one(dict(zip(key_fields, key, strict=True)), {"$set": doc})
    return len(docs)


def open_store(
    mongodb_uri: str | None, embedded_dir: Any, database: str = "featurecast", *, reader: bool = False
) -> tuple[RegimeStore, Any]:
    """(store, client): a real server when `mongodb_uri` is given, else the embedded on-disk stand-in.
    A `reader` does not (re)create indexes."""
    client: Any
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
