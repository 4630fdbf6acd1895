"""One declaration per feature: the catalogue generates the models' feature YAML, and drift fails."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from dbt_project.feature_catalog import (
    INTERMEDIATE_YAML,
    MARTS_YAML,
    CatalogError,
    load_catalog,
    render,
    sync,
)


def columns(text: str, model: str) -> list[dict]:
    found = next(m for m in yaml.safe_load(text)["models"] if m["name"] == model)
    return found["columns"]


def test_the_models_yaml_is_what_the_catalogue_generates() -> None:
    assert sync(check=True) == [], "run `featurecast features sync`"


def test_every_documented_feature_is_declared_in_the_catalogue_once() -> None:
    declared = {d.name for d in load_catalog()}
    assert len(declared) == len(load_catalog())
    for path, model in (
        (INTERMEDIATE_YAML, "int_symbol_features_computed"),
        (MARTS_YAML, "fct_daily_features"),
        (MARTS_YAML, "fct_market_features"),
        (MARTS_YAML, "fct_training_set"),
    ):
        features = {c["name"] for c in columns(path.read_text(), model) if (c.get("meta") or {}).get("feature")}
        assert features <= declared, f"{model}: {sorted(features - declared)} not in the catalogue"


def test_one_new_declaration_reaches_every_model_it_belongs_to() -> None:
    catalog = load_catalog()
    template = next(d for d in catalog if d.name == "ret_5d")
    new = replace(template, name="ret_2d", lookback_rows=3, description="Log return over the last 2 rows.")
    texts = render([*catalog, new])
    intermediate = columns(texts[INTERMEDIATE_YAML], "int_symbol_features_computed")
    assert {
        "name": "ret_2d",
        "description": "Log return over the last 2 rows.",
        "meta": {"feature": True, "family": "returns", "lookback_rows": 3, "needs": ["close"], "range": [None, None]},
    } in intermediate
    for model in ("fct_daily_features", "fct_training_set"):
        listed = columns(texts[MARTS_YAML], model)
        names = [c["name"] for c in listed]
        entry = listed[names.index("ret_2d")]
        assert entry["data_type"] == "double" and entry["meta"]["lookback_rows"] == 3
        assert names.index("ret_2d") < names.index("source_loaded_at")  # among the features, not after
        assert names.count("ret_2d") == 1
    assert "ret_2d" not in {c["name"] for c in columns(texts[MARTS_YAML], "fct_market_features")}
    assert "&id" not in texts[MARTS_YAML] and "*id" not in texts[MARTS_YAML]  # no YAML anchors


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("- {name: Ret-2d, family: returns, lookback_rows: 3, description: x}", "snake_case"),
        ("- {name: ret_1d, family: returns, lookback_rows: 2, description: x}", "declared twice"),
        ("- {name: ret_2d, family: returns, lookback_rows: 0, description: x}", "positive integer"),
        ("- {name: ret_2d, family: returns, lookback_rows: 3}", "description is required"),
        ("- {name: ret_2d, family: returns, lookback_rows: 3, description: x, lookback: 3}", "unknown keys"),
        (
            "- {name: ret_2d, computed_in: fct_market_features, family: r, lookback_rows: 3, description: x}",
            "computed_in must be one of",
        ),
        ("- {name: ret_2d, family: returns, lookback_rows: 3, description: x, data_type: text}", "data_type"),
        ("- {name: ret_2d, family: returns, lookback_rows: 3, description: x, needs: [high]}", "needs must list close"),
        (
            "- {name: ret_2d, family: returns, lookback_rows: 3, description: x, range: [1, 0]}",
            r"range must be \[low, high\]",
        ),
        (
            "- {name: ret_2d, family: returns, lookback_rows: 3, description: x, range: [0]}",
            r"range must be \[low, high\]",
        ),
    ],
)
def test_a_malformed_declaration_is_refused_naming_the_entry(tmp_path: Path, entry: str, says: str) -> None:
    catalog = tmp_path / "feature_catalog.yml"
    catalog.write_text(
        f"fct_daily_features:\n- {{name: ret_1d, family: returns, lookback_rows: 2, description: x}}\n{entry}\n"
    )
    with pytest.raises(CatalogError, match=says):
        load_catalog(catalog)


def test_every_range_the_catalogue_gives_is_what_the_build_enforces() -> None:
    """The generated test on each mart carries exactly the catalogue's bounded ranges, and every feature
    that needs the intraday range says so (a close-only bar has it null)."""
    catalog = load_catalog()
    marts = yaml.safe_load(render(catalog)[MARTS_YAML])["models"]
    for mart in ("fct_daily_features", "fct_market_features"):
        model = next(m for m in marts if m["name"] == mart)
        (test,) = [t["features_within_range"] for t in model["data_tests"] if "features_within_range" in t]
        expected = {d.name: list(d.value_range) for d in catalog if d.mart == mart and d.value_range != (None, None)}
        assert test["arguments"]["ranges"] == expected
    ranges = {d.name: d.value_range for d in catalog}
    assert ranges["high_recency_63d"] == (0, 1) and ranges["corr_mkt_63d"] == (-1, 1) and ranges["vol_21d"][0] == 0
    needs_range = {d.name for d in catalog if {"high", "low", "open"} & set(d.needs)}
    assert {"hl_log_range", "parkinson_vol_21d", "kbar_body", "close_location", "atr_14_pct"} <= needs_range


def test_an_unknown_mart_is_refused(tmp_path: Path) -> None:
    catalog = tmp_path / "feature_catalog.yml"
    catalog.write_text("fct_weekly_features:\n- {name: ret_1w, family: returns, lookback_rows: 2, description: x}\n")
    with pytest.raises(CatalogError, match="unknown mart 'fct_weekly_features'"):
        load_catalog(catalog)
