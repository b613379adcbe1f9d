"""Next-case orderings by the model's doubt (issue 11): the open tasks whose stored score by a strategy is
highest come first (lowest predicted IoU, jittered-box disagreement, or random as the baseline). Scores are
computed in the background by annotator/learning/queue.py; tasks not scored yet follow, by priority.
annotator/actions/tasks.py registers one ordering per strategy under the strategy's name."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.db.models import QuerySet

from annotator.models import Project, QueueScore, Task


def by_model_doubt(strategy: str) -> Callable[[QuerySet, object, Project], Iterable[Task]]:
    def order(tasks: QuerySet, user: object, project: Project) -> Iterable[Task]:
        listed = list(tasks.order_by("-priority", "id"))
        scores = dict(
            QueueScore.objects.filter(task__in=[t.pk for t in listed], strategy=strategy).values_list(
                "task_id", "score"
            )
        )
        # sorted() is stable: equal scores, and every unscored task, keep the priority order.
        return sorted(listed, key=lambda t: (t.pk not in scores, -scores.get(t.pk, 0.0)))

    return order
