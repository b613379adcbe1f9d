"""A worker loads and warms up its model once per process, however often Celery says it is ready."""

from __future__ import annotations

from annotator import tasks


class CountingPredictor:
    def describe(self) -> dict:
        return {"name": "fake"}


def test_the_model_is_warmed_up_once_even_when_the_worker_is_ready_again(monkeypatch):
    from ml_worker import serving

    warm_ups = []
    predictor = CountingPredictor()
    monkeypatch.setattr(serving, "get_predictor", lambda: predictor)
    monkeypatch.setattr(serving, "warm_up", lambda p: warm_ups.append(p))
    monkeypatch.setattr(tasks, "_warmed_up", False)
    monkeypatch.setattr(tasks, "_model_status", dict(tasks._model_status))
    # When Celery sends worker_ready at start and again after each broker reconnect
    for _ in range(3):
        tasks.load_model_when_worker_starts()
    # Then the (seconds-long) warm-up ran once, and the model is reported loaded
    assert warm_ups == [predictor]
    assert tasks.model_info(None) == {"loaded": True, "name": "fake"}
