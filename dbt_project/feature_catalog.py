"""One declaration per feature: `dbt_project/feature_catalog.yml`, and what is generated from it.

A feature is its SQL expression (in the model named by `computed_in`) plus one catalogue entry: name,
description, family and lookback. `featurecast features sync` writes every YAML block the feature
appears in from the catalogue: the intermediate model that computes it, the feature mart (with its
contract type) and the training set. The marts' select lists are cast from those YAML columns at
compile time (macros/cast_to_contract.sql), and `featurecast docs` writes the feature specification from
the manifest. A test fails when the YAML differs from what the catalogue generates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dbt_project.project_files import read_yaml
from featurecast.config import PROJECT_ROOT

CATALOG_PATH = PROJECT_ROOT / "dbt_project" / "feature_catalog.yml"
INTERMEDIATE_YAML = PROJECT_ROOT / "models" / "intermediate" / "_intermediate__models.yml"
MARTS_YAML = PROJECT_ROOT / "models" / "marts" / "features" / "_features__models.yml"
SYMBOL_MART, MARKET_MART, TRAINING_SET = "fct_daily_features", "fct_market_features", "fct_training_set"
INTERMEDIATE = "int_symbol_features_computed"
COMPUTED_IN = {SYMBOL_MART: (INTERMEDIATE, SYMBOL_MART), MARKET_MART: (MARKET_MART,)}
TYPES = {"double", "integer", "bigint", "boolean"}
# What a feature may need besides the close: the intraday range and open (a close-only bar has none), the
# traded volume (an index has none) and the market series (fct_market_features).
NEEDS = ("close", "open", "high", "low", "volume", "market")
RANGE_TEST = "features_within_range"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class CatalogError(ValueError):
    """The catalogue is malformed; the message names the entry and what is wrong."""


@dataclass(frozen=True)
class FeatureDeclaration:
    name: str
    mart: str  # fct_daily_features (per symbol and date) or fct_market_features (per date)
    computed_in: str  # the model whose SQL holds the expression
    family: str
    lookback_rows: int
    description: str
    data_type: str = "double"
    needs: tuple[str, ...] = ("close",)
    value_range: tuple[float | None, float | None] = (None, None)

    def column(self, *, typed: bool) -> dict[str, Any]:
        """The column's YAML entry (typed: with the contract's data_type, for a mart)."""
        entry: dict[str, Any] = {"name": self.name}
        if typed:
            entry["data_type"] = self.data_type
        entry["description"] = self.description
        entry["meta"] = {
            "feature": True,
            "family": self.family,
            "lookback_rows": self.lookback_rows,
            "needs": list(self.needs),
            "range": list(self.value_range),
        }
        return entry

    def placements(self) -> list[tuple[Path, str, bool]]:
        """Every (YAML file, model, typed) the feature's column is documented in."""
        if self.mart == MARKET_MART:
            return [(MARTS_YAML, MARKET_MART, True)]
        out = [(INTERMEDIATE_YAML, INTERMEDIATE, False)] if self.computed_in == INTERMEDIATE else []
        return [*out, (MARTS_YAML, SYMBOL_MART, True), (MARTS_YAML, TRAINING_SET, True)]


def load_catalog(path: Path = CATALOG_PATH) -> list[FeatureDeclaration]:
    """The catalogue, validated: unique snake_case names, a known mart and model, a family, a positive
    lookback, a description and a contract type for each entry."""
    document = read_yaml(path) or {}
    declarations, seen = [], set()
    for mart, entries in document.items():
        if mart not in COMPUTED_IN:
            raise CatalogError(f"{path.name}: unknown mart {mart!r} (expected {', '.join(COMPUTED_IN)})")
        for entry in entries or []:
            name = str(entry.get("name", ""))
            where = f"{path.name}: {mart}.{name or '?'}"
            if not _NAME.match(name):
                raise CatalogError(f"{where}: the name must be snake_case (a-z, 0-9, _), at most 63 characters")
            if name in seen:
                raise CatalogError(f"{where}: declared twice")
            seen.add(name)
            unknown = set(entry) - {
                "name",
                "computed_in",
                "family",
                "lookback_rows",
                "description",
                "data_type",
                "needs",
                "range",
            }
            if unknown:
                raise CatalogError(f"{where}: unknown keys {sorted(unknown)}")
            computed_in = entry.get("computed_in", COMPUTED_IN[mart][0])
            if computed_in not in COMPUTED_IN[mart]:
                raise CatalogError(f"{where}: computed_in must be one of {', '.join(COMPUTED_IN[mart])}")
            lookback = entry.get("lookback_rows")
            if not isinstance(lookback, int) or isinstance(lookback, bool) or lookback < 1:
                raise CatalogError(f"{where}: lookback_rows must be a positive integer (bars the value reads)")
            for key in ("family", "description"):
                if not str(entry.get(key) or "").strip():
                    raise CatalogError(f"{where}: {key} is required")
            data_type = entry.get("data_type", "double")
            if data_type not in TYPES:
                raise CatalogError(f"{where}: data_type must be one of {', '.join(sorted(TYPES))}")
            needs = entry.get("needs", ["close"])
            if not isinstance(needs, list) or "close" not in needs or set(needs) - set(NEEDS):
                raise CatalogError(f"{where}: needs must list close and any of {', '.join(NEEDS[1:])}")
            value_range = entry.get("range", [None, None])
            if (
                not isinstance(value_range, list)
                or len(value_range) != 2
                or not all(v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in value_range)
                or (None not in value_range and value_range[0] > value_range[1])
            ):
                raise CatalogError(f"{where}: range must be [low, high], null for an unbounded side")
            declarations.append(
                FeatureDeclaration(
                    name,
                    mart,
                    computed_in,
                    str(entry["family"]),
                    lookback,
                    " ".join(entry["description"].split()),
                    data_type,
                    tuple(needs),
                    (value_range[0], value_range[1]),
                )
            )
    return declarations


class _NoAliases(yaml.SafeDumper):
    """YAML without anchors (&id001): every block reads on its own."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # lists indented under their key, as dbt's docs write them


def dump_yaml(document: dict[str, Any]) -> str:
    return yaml.dump(document, Dumper=_NoAliases, sort_keys=False, width=120, allow_unicode=True)


def _place(columns: list[dict[str, Any]], generated: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`columns` with its feature columns replaced by `generated`, at the first feature's position (or
    before source_loaded_at, or at the end, when the model has none yet)."""
    names = {c["name"] for c in generated}
    is_feature = [bool((c.get("meta") or {}).get("feature")) or c["name"] in names for c in columns]
    kept = [c for c, feature in zip(columns, is_feature, strict=True) if not feature]
    if any(is_feature):
        at = sum(1 for feature in is_feature[: is_feature.index(True)] if not feature)
    else:
        at = next((i for i, c in enumerate(kept) if c["name"] == "source_loaded_at"), len(kept))
    return kept[:at] + generated + kept[at:]


def _with_range_test(tests: list[Any], mart: str, ranges: dict[str, list[float | None]]) -> list[Any]:
    """`tests` with the generated range test of `mart` (one query over every bounded feature) in place."""
    generated = {
        RANGE_TEST: {"name": f"feature_ranges_{mart}", "arguments": {"ranges": ranges}},
    }
    kept = [t for t in tests if not (isinstance(t, dict) and RANGE_TEST in t)]
    return [*kept, generated] if ranges else kept


def render(catalog: list[FeatureDeclaration]) -> dict[Path, str]:
    """The text each generated YAML file must have for `catalog`."""
    files: dict[Path, dict[str, Any]] = {}
    wanted: dict[tuple[Path, str], list[dict[str, Any]]] = {}
    for declaration in catalog:
        for path, model, typed in declaration.placements():
            wanted.setdefault((path, model), []).append(declaration.column(typed=typed))
    for path in (INTERMEDIATE_YAML, MARTS_YAML):
        files[path] = yaml.safe_load(path.read_text())
    for (path, model_name), generated in wanted.items():
        documented = next((m for m in files[path]["models"] if m["name"] == model_name), None)
        if documented is None:
            raise CatalogError(f"{path.name} documents no model {model_name}")
        documented["columns"] = _place(documented.get("columns", []), generated)
    for declaration_mart in (SYMBOL_MART, MARKET_MART):
        bounded = {
            d.name: list(d.value_range) for d in catalog if d.mart == declaration_mart and d.value_range != (None, None)
        }
        documented = next(m for m in files[MARTS_YAML]["models"] if m["name"] == declaration_mart)
        documented["data_tests"] = _with_range_test(documented.get("data_tests") or [], declaration_mart, bounded)
    return {path: dump_yaml(document) for path, document in files.items()}


def sync(*, check: bool = False, catalog_path: Path = CATALOG_PATH) -> list[Path]:
    """Write the YAML the catalogue generates; returns the files that changed (with check=True, the
    files that would change, writing nothing)."""
    changed = []
    for path, text in render(load_catalog(catalog_path)).items():
        if path.read_text() != text:
            changed.append(path)
            if not check:
                path.write_text(text)
    return changed
