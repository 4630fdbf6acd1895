"""The forecaster registry: every forecaster's name, written here and nowhere else in the code (a test
checks; the selection rule's SQL names none). Light on purpose: the API imports it."""

from __future__ import annotations

from typing import Literal, get_args

ForecasterName = Literal["vol_normal", "conformal", "lgbm_quantile"]
MODELS: tuple[str, ...] = get_args(ForecasterName)
# Served for a (portfolio, horizon) with no champion yet (nothing matured to judge): the plain baseline.
BASELINE: str = MODELS[0]
