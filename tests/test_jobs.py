"""Starting a job: one function, one table from job kind to Celery task and queue, sent only after commit."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import transaction

from annotator.actions.jobs import JOB_ROUTES, start_job
from annotator.models import Job
from webapp.celery import app as celery_app


class Boom(Exception):
    pass


@pytest.fixture
def send_task():
    with mock.patch.object(celery_app, "send_task") as sent:
        yield sent


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("kind", "task"),
    [
        ("import", "annotator.tasks.run_import_job"),
        ("export", "annotator.tasks.run_export_job"),
        ("propagate", "annotator.tasks.run_propagation_job"),
    ],
)
def test_a_started_job_is_a_pending_row_whose_task_is_sent_by_name_only_after_commit(
    personas, send_task, kind, task
):
    # Given a request's transaction
    with transaction.atomic():
        # When a job is started inside it
        job = start_job(
            kind, project=personas.project, user=personas.owner, payload={"n": 1}, message="Queued."
        )
        # Then the row exists (in this transaction) but nothing has been sent yet
        row = Job.objects.get(pk=job.pk)
        assert (row.kind, row.state, row.project_id, row.created_by_id) == (
            kind,
            "pending",
            personas.project.id,
            personas.owner.id,
        )
        assert (row.payload, row.message) == ({"n": 1}, "Queued.")
        send_task.assert_not_called()
    # Then once it commits, the named task is sent once, with the job's id, to the embed queue
    send_task.assert_called_once_with(task, args=[job.pk], queue="embed")


@pytest.mark.django_db(transaction=True)
def test_a_job_started_in_a_transaction_that_rolls_back_leaves_no_row_and_sends_nothing(personas, send_task):
    with pytest.raises(Boom), transaction.atomic():
        start_job("export", project=personas.project, user=personas.owner, payload={})
        raise Boom
    assert not Job.objects.exists()
    send_task.assert_not_called()


@pytest.mark.django_db(transaction=True)
def test_a_job_started_outside_any_transaction_is_sent_at_once(personas, send_task):
    job = start_job("import", project=personas.project, user=personas.owner, payload={})
    send_task.assert_called_once_with("annotator.tasks.run_import_job", args=[job.pk], queue="embed")


def test_an_unknown_job_kind_is_refused_and_creates_nothing(personas, send_task):
    with pytest.raises(ValueError, match="Unknown job kind 'reticulate'"):
        start_job("reticulate", project=personas.project, user=personas.owner, payload={})
    assert not Job.objects.exists()
    send_task.assert_not_called()


def test_every_job_kind_runs_on_a_queue_the_workers_consume():
    from webapp.celery import QUEUES

    assert {route.queue for route in JOB_ROUTES.values()} <= set(QUEUES)


@pytest.mark.parametrize("kind", ["import", "export", "propagate"])
def test_the_task_a_job_kind_names_is_registered_with_the_celery_app(kind):
    import annotator.tasks  # noqa: F401 - registers the app's tasks, as the worker's autodiscovery does

    assert JOB_ROUTES[kind].task in celery_app.tasks
