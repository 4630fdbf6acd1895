"""Long work says where it is: a line with the share done and an estimate of what is left, at most every
`every` seconds, to the terminal (stderr) and the Prefect log; quick work says nothing."""

from __future__ import annotations

import pytest

from featurecast import progress as progress_module
from featurecast.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(progress_module.time, "monotonic", fake)
    return fake


def test_a_long_job_reports_its_share_and_an_estimate_weighted_by_step_size(clock, capsys) -> None:
    folds = Progress("training lightgbm", total=100, every=10)
    clock.now += 20
    line = folds.advance(20, step="fold 1 of 3 trained")
    assert line == "training lightgbm: fold 1 of 3 trained (20%), 20 s so far, about 1 min 20 s left"
    clock.now += 5
    assert folds.advance(30, step="fold 2 of 3 trained") is None  # within 10 s of the last line
    clock.now += 75
    assert folds.advance(50, step="fold 3 of 3 trained").endswith("(100%), 1 min 40 s so far, done")
    assert capsys.readouterr().err.count("training lightgbm:") == 2


def test_quick_work_reports_nothing(clock, capsys) -> None:
    quick = Progress("dbt build (features, incremental)", total=3)
    for _ in range(3):
        clock.now += 1
        assert quick.advance() is None
    assert capsys.readouterr().err == ""


def test_inside_a_prefect_run_the_line_goes_to_the_run_log_too(clock, monkeypatch) -> None:
    logged = []

    class Logger:
        def info(self, line: str) -> None:
            logged.append(line)

    monkeypatch.setattr(progress_module, "_prefect_logger", lambda: Logger())
    job = Progress("labelling regimes", total=2, every=0)
    job.advance(step="1 days through 2020-01-02")
    assert logged == ["labelling regimes: 1 days through 2020-01-02 (50%), 0 s so far, about 0 s left"]
