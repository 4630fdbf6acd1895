"""The model families behind one small interface: fit, raw score, contributions, save and load.

Raw scores are log-odds. Contributions are per-feature SHAP values in the same log-odds space, with a
base value, so `contributions.sum(axis=1) + base == raw_score` (tested for both libraries). LightGBM's
TreeSHAP comes from `pred_contrib=True`, CatBoost's from `ShapValues`.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

LIGHTGBM_PARAMS: dict[str, Any] = {
    "n_estimators": 300,
    "learning_rate": 0.03,
    "num_leaves": 15,
    "min_child_samples": 200,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "n_jobs": 2,
    "random_state": 0,
    "deterministic": True,
    "verbose": -1,
}
CATBOOST_PARAMS: dict[str, Any] = {
    "iterations": 300,
    "depth": 5,
    "learning_rate": 0.05,
    "l2_leaf_reg": 5.0,
    "thread_count": 2,
    "random_seed": 0,
    "verbose": False,
    "allow_writing_files": False,
}


class SignalModel(ABC):
    """A binary direction classifier on a fixed feature list."""

    family: ClassVar[str]

    def __init__(self, features: list[str], params: dict[str, Any] | None = None) -> None:
        self.features = list(features)
        self.params = dict(params or self.default_params())

    @staticmethod
    @abstractmethod
    def default_params() -> dict[str, Any]: ...

    @abstractmethod
    def fit(self, x: pd.DataFrame, y: np.ndarray) -> SignalModel: ...

    @abstractmethod
    def raw_score(self, x: pd.DataFrame) -> np.ndarray:
        """Log-odds of an up move."""

    @abstractmethod
    def contributions(self, x: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(rows x features SHAP values, base value per row), in log-odds."""

    @abstractmethod
    def save(self, directory: Path) -> None: ...

    @classmethod
    @abstractmethod
    def load(cls, directory: Path, features: list[str], params: dict[str, Any]) -> SignalModel: ...

    def probability(self, x: pd.DataFrame) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.raw_score(x)))

    def _matrix(self, x: pd.DataFrame) -> np.ndarray:
        return x[self.features].to_numpy(dtype=np.float64)


class LightGBMSignal(SignalModel):
    family = "lightgbm"

    @staticmethod
    def default_params() -> dict[str, Any]:
        return dict(LIGHTGBM_PARAMS)

    def fit(self, x: pd.DataFrame, y: np.ndarray) -> LightGBMSignal:
        import lightgbm

        self.model = lightgbm.LGBMClassifier(**self.params)
        self.model.fit(self._matrix(x), y)
        self.booster = self.model.booster_
        return self

    def raw_score(self, x: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.booster.predict(self._matrix(x), raw_score=True))

    def contributions(self, x: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        values = np.asarray(self.booster.predict(self._matrix(x), pred_contrib=True))
        return values[:, :-1], values[:, -1]

    def save(self, directory: Path) -> None:
        self.booster.save_model(str(directory / "model.txt"))

    @classmethod
    def load(cls, directory: Path, features: list[str], params: dict[str, Any]) -> LightGBMSignal:
        import lightgbm

        model = cls(features, params)
        model.booster = lightgbm.Booster(model_file=str(directory / "model.txt"))
        return model


class CatBoostSignal(SignalModel):
    family = "catboost"

    @staticmethod
    def default_params() -> dict[str, Any]:
        return dict(CATBOOST_PARAMS)

    def fit(self, x: pd.DataFrame, y: np.ndarray) -> CatBoostSignal:
        from catboost import CatBoostClassifier

        self.model = CatBoostClassifier(**self.params)
        self.model.fit(self._matrix(x), y)
        return self

    def raw_score(self, x: pd.DataFrame) -> np.ndarray:
        return self.model.predict(self._matrix(x), prediction_type="RawFormulaVal")

    def contributions(self, x: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        from catboost import Pool

        values = self.model.get_feature_importance(Pool(self._matrix(x)), type="ShapValues")
        return values[:, :-1], values[:, -1]

    def save(self, directory: Path) -> None:
        self.model.save_model(str(directory / "model.cbm"))

    @classmethod
    def load(cls, directory: Path, features: list[str], params: dict[str, Any]) -> CatBoostSignal:
        from catboost import CatBoostClassifier

        model = cls(features, params)
        model.model = CatBoostClassifier()
        model.model.load_model(str(directory / "model.cbm"))
        return model


FAMILIES: dict[str, type[SignalModel]] = {m.family: m for m in (LightGBMSignal, CatBoostSignal)}


class MomentumBaseline:
    """The naive baseline: a one-feature logistic regression on 21-day momentum, fitted per fold."""

    feature = "ret_21d"

    def fit(self, x: pd.DataFrame, y: np.ndarray) -> MomentumBaseline:
        from sklearn.linear_model import LogisticRegression

        values = x[[self.feature]].fillna(0.0).to_numpy()
        self.model = LogisticRegression().fit(values, y)
        return self

    def probability(self, x: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(x[[self.feature]].fillna(0.0).to_numpy())[:, 1]


class PlattCalibrator:
    """Platt scaling: a two-parameter logistic map on the raw log-odds, fitted on out-of-fold predictions.

    Chosen over isotonic regression because fold-to-fold drift (bull vs bear base rates) made isotonic
    maps fitted on earlier folds push later probabilities to 0 or 1; Platt scaling degrades gracefully
    toward the base rate when the signal is weak.
    """

    def fit(self, p: np.ndarray, y: np.ndarray) -> PlattCalibrator:
        from sklearn.linear_model import LogisticRegression

        logit = np.log(np.clip(p, 1e-9, 1 - 1e-9) / np.clip(1 - p, 1e-9, 1))
        fitted = LogisticRegression(C=1e6).fit(logit.reshape(-1, 1), y)
        self.slope, self.intercept = float(fitted.coef_[0, 0]), float(fitted.intercept_[0])
        return self

    def __call__(self, p: np.ndarray) -> np.ndarray:
        logit = np.log(np.clip(p, 1e-9, 1 - 1e-9) / np.clip(1 - p, 1e-9, 1))
        return 1.0 / (1.0 + np.exp(-(self.slope * logit + self.intercept)))

    def to_json(self) -> str:
        return json.dumps({"method": "platt", "slope": self.slope, "intercept": self.intercept})

    @classmethod
    def from_json(cls, text: str) -> PlattCalibrator:
        data = json.loads(text)
        calibrator = cls()
        calibrator.slope, calibrator.intercept = data["slope"], data["intercept"]
        return calibrator
