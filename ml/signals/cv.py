"""Walk-forward cross-validation with purge and embargo, on trading dates.

Each fold tests a contiguous block of dates and trains only on dates before it (expanding window by
default, or a rolling window of `max_train_dates`). Two guards keep the future out of training:
- purge: a training row whose label window (date, label_end_date] reaches into the test block is
  dropped, since its label was computed from prices the test block also sees;
- embargo: the `embargo_dates` dates right before the test block are dropped as well, so serially
  correlated features cannot carry test-period information backwards into training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


class InsufficientHistoryError(ValueError):
    """Too few dates for the first training window of a walk-forward split."""


@dataclass(frozen=True)
class Fold:
    number: int
    train_index: np.ndarray  # positions into the frame
    test_index: np.ndarray
    test_start: pd.Timestamp
    test_end: pd.Timestamp
    train_end: pd.Timestamp  # last training date kept


@dataclass(frozen=True)
class WalkForward:
    n_folds: int = 5
    test_fraction: float = 0.5  # share of all dates covered by the test blocks (the latest ones)
    embargo_dates: int = 5
    min_train_dates: int = 252
    max_train_dates: int | None = None  # None: expanding window

    def split(self, frame: pd.DataFrame) -> list[Fold]:
        """Folds over `frame`, which needs columns `date` and `label_end_date` (the label's last date)."""
        dates = np.array(sorted(frame["date"].unique()))
        n_test = int(len(dates) * self.test_fraction)
        first_test = len(dates) - n_test
        if first_test < self.min_train_dates:
            raise InsufficientHistoryError(
                f"{len(dates)} dates leave {first_test} for the first training window; "
                f"need at least {self.min_train_dates}"
            )
        blocks = np.array_split(np.arange(first_test, len(dates)), self.n_folds)
        row_dates = frame["date"].to_numpy()
        label_end = frame["label_end_date"].to_numpy()
        folds = []
        for number, block in enumerate(blocks, start=1):
            test_start, test_end = dates[block[0]], dates[block[-1]]
            embargo_from = dates[max(block[0] - self.embargo_dates, 0)]
            train_mask = (row_dates < embargo_from) & (label_end < test_start)
            if self.max_train_dates is not None:
                window_start = dates[max(block[0] - self.embargo_dates - self.max_train_dates, 0)]
                train_mask &= row_dates >= window_start
            test_mask = (row_dates >= test_start) & (row_dates <= test_end)
            train_index = np.flatnonzero(train_mask)
            folds.append(
                Fold(
                    number=number,
                    train_index=train_index,
                    test_index=np.flatnonzero(test_mask),
                    test_start=pd.Timestamp(test_start),
                    test_end=pd.Timestamp(test_end),
                    train_end=pd.Timestamp(row_dates[train_index].max()),
                )
            )
        return folds
