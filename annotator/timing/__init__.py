"""Annotation time, measured (issue 12): plain Python, no Django, so every number can be derived and tested
on scripted event streams.

* ``schema``: one interaction event as the browser (or a simulated participant) sends it;
* ``activity``: active time per mask, mask revision and task from a stream of events (idle gaps cut, hidden
  tab excluded, replayed sequence numbers counted once), counts by kind, the model versions used;
* ``design``: the counterbalanced, reproducible assignment of a timing study's cases to participants;
* ``stats``: % time saved with a bootstrap confidence interval and the paired Wilcoxon test (scipy);
* ``tracing``: how a simulated participant draws: a reference contour as brush strokes, corrective strokes.

The Django side (models, actions, API, the consumer) lives in ``annotator.models.timing``,
``annotator.actions.interactions``, ``annotator.actions.user_studies``, ``annotator.actions.timing_report``
and ``annotator.api.timing``; docs/timing.md describes the whole feature.
"""
