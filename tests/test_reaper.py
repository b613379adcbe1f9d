"""Jobs never stay "running" or "pending" for ever (probe finding 8), staging files go with their job, and
storage is kept bounded (finding 16: export zips, embeddings of deleted series)."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.utils import timezone

from annotator.actions import reaper
from annotator.models import Job
from tests.factories import SeriesFactory

STALE = timedelta(minutes=10)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.EMBEDDING_DIR = tmp_path / "media" / "embeddings"
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def sent():
    """The reaper's task sender, recorded instead of reaching a broker."""
    jobs: list[tuple[int, str]] = []
    return jobs


def reap(sent, now=None) -> dict:
    return reaper.reap_stale_jobs(now or timezone.now(), send=lambda job: sent.append((job.pk, job.kind)))


def job_in_state(kind: str, state: str, *, silent_for: timedelta, attempts: int = 1, **fields) -> Job:
    job = Job.objects.create(kind=kind, state=state, attempts=attempts, **fields)
    then = timezone.now() - silent_for
    heartbeat = then if state == Job.State.RUNNING else None
    Job.objects.filter(pk=job.pk).update(updated_at=then, heartbeat_at=heartbeat, created_at=then)
    job.refresh_from_db()
    return job


# Running jobs whose worker died --------------------------------------------------------------------------
def test_a_running_job_whose_worker_died_is_failed_with_the_reason(personas, sent):
    # Given a propagation whose worker stopped beating ten minutes ago
    job = job_in_state("propagate", Job.State.RUNNING, silent_for=STALE, project=personas.project)
    # When the reaper runs
    report = reap(sent)
    # Then the job is failed, says why, and nothing was sent again
    job.refresh_from_db()
    assert job.state == Job.State.FAILED and job.finished_at is not None
    assert "stopped" in job.error and "start the job again" in job.error
    assert report["failed"] == [job.pk] and sent == []


def test_a_running_job_with_a_recent_heartbeat_is_left_alone(personas, sent):
    job = job_in_state("propagate", Job.State.RUNNING, silent_for=timedelta(seconds=5))
    reap(sent)
    job.refresh_from_db()
    assert job.state == Job.State.RUNNING and sent == []


def test_a_running_import_whose_worker_died_is_queued_again_and_then_runs(personas, sent):
    # Given an import claimed once whose worker died
    job = job_in_state("import", Job.State.RUNNING, silent_for=STALE, attempts=1)
    # When the reaper runs
    report = reap(sent)
    # Then it is pending again, says so, and its task was sent once
    job.refresh_from_db()
    assert job.state == Job.State.PENDING and job.requeues == 1 and job.heartbeat_at is None
    assert "queued again (attempt 2 of 3)" in job.message
    assert sent == [(job.pk, "import")] and report["requeued"] == [job.pk]
    # And a worker can claim it again (one claim only), and a second reaper pass right away changes nothing
    assert job.claim() and not Job.objects.get(pk=job.pk).claim()
    job.refresh_from_db()
    assert job.attempts == 2 and job.heartbeat_at is not None
    reap(sent)
    assert len(sent) == 1 and Job.objects.get(pk=job.pk).state == Job.State.RUNNING


def test_a_restartable_job_that_died_on_every_attempt_is_failed_in_the_end(personas, sent):
    job = job_in_state("export", Job.State.RUNNING, silent_for=STALE, attempts=3)
    reap(sent)
    job.refresh_from_db()
    assert job.state == Job.State.FAILED and "after 3 attempts" in job.error and sent == []


def test_a_heartbeat_keeps_a_long_silent_step_alive(personas, sent):
    # Given a running job whose last progress report is old but whose worker still beats
    job = job_in_state("propagate", Job.State.RUNNING, silent_for=STALE)
    # When its heartbeat is recorded (as the heartbeat thread does every JOB_HEARTBEAT_S)
    assert job.heartbeat()
    reap(sent)
    # Then it is not reaped
    assert Job.objects.get(pk=job.pk).state == Job.State.RUNNING


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_thread_beats_while_a_step_reports_nothing(personas):
    from annotator.workers import Heartbeat

    job = job_in_state("export", Job.State.RUNNING, silent_for=STALE)
    before = job.heartbeat_at
    with Heartbeat(job.pk, interval=0.05):
        time.sleep(0.4)  # a long step that reports no progress
    job.refresh_from_db()
    assert job.heartbeat_at > before + STALE - timedelta(seconds=5)


# Pending jobs whose message was lost ---------------------------------------------------------------------
def test_a_pending_job_nobody_claimed_is_sent_again(personas, settings, sent):
    settings.JOB_PENDING_RESEND_S = 60
    # Given an export queued ten minutes ago whose message was lost (Redis restarted) and a fresh one
    lost = job_in_state("export", Job.State.PENDING, silent_for=STALE, attempts=0)
    fresh = job_in_state("export", Job.State.PENDING, silent_for=timedelta(seconds=5), attempts=0)
    # When the reaper runs
    reap(sent)
    # Then only the lost one is sent again, and it stays pending, waiting for its worker
    assert sent == [(lost.pk, "export")]
    assert Job.objects.get(pk=lost.pk).state == Job.State.PENDING
    assert Job.objects.get(pk=fresh.pk).state == Job.State.PENDING


def test_a_pending_job_that_waited_too_long_is_failed_with_the_reason(personas, settings, sent):
    settings.JOB_PENDING_RESEND_S, settings.JOB_PENDING_MAX_S = 60, 3600
    job = job_in_state("import", Job.State.PENDING, silent_for=timedelta(hours=2), attempts=0)
    reap(sent)
    job.refresh_from_db()
    assert job.state == Job.State.FAILED and "No worker started this job within 120 minutes" in job.error
    assert sent == []


def test_a_pending_propagation_whose_message_was_lost_is_failed_not_rerun(personas, settings, sent):
    settings.JOB_PENDING_RESEND_S = 60
    job = job_in_state("propagate", Job.State.PENDING, silent_for=STALE, attempts=0)
    reap(sent)
    job.refresh_from_db()
    assert job.state == Job.State.FAILED and "Start it again" in job.error and sent == []


def test_every_job_task_is_acknowledged_late_and_put_back_when_its_worker_is_lost():
    from annotator.actions.jobs import JOB_ROUTES
    from webapp.celery import app

    app.loader.import_default_modules()
    for kind, route in JOB_ROUTES.items():
        assert route.task in app.tasks, f"{kind}: {route.task} is not a registered task"
        task = app.tasks[route.task]
        assert task.acks_late and task.reject_on_worker_lost, kind


def test_the_restartable_kinds_are_kinds_that_jobs_start_with():
    from annotator.actions.jobs import JOB_ROUTES

    assert reaper.RESTARTABLE <= set(JOB_ROUTES)


# Staging files go with their job -------------------------------------------------------------------------
def staged(media: Path, name: str = "abc123") -> tuple[Job, Path]:
    folder = media / "imports" / name
    (folder / "000").mkdir(parents=True)
    (folder / "000" / "00000.dcm").write_bytes(b"x" * 1024)
    job = Job.objects.create(kind="import", payload={"staging": f"imports/{name}", "series": []})
    return job, folder


@pytest.mark.parametrize("end", ["cancel", "fail", "reap"])
def test_staging_files_are_removed_whenever_an_import_ends(
    personas, media, end, django_capture_on_commit_callbacks, sent
):
    job, folder = staged(media)
    with django_capture_on_commit_callbacks(execute=True):
        if end == "cancel":
            assert job.cancel()
        elif end == "fail":
            job.claim()
            assert job.fail("The file is not DICOM.")
        else:
            job.claim()
            Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - STALE, attempts=3)
            reap(sent)
    assert Job.objects.get(pk=job.pk).is_finished
    assert not folder.exists()


def test_staging_files_stay_while_the_job_can_still_run(personas, media, django_capture_on_commit_callbacks):
    job, folder = staged(media)
    with django_capture_on_commit_callbacks(execute=True):
        job.claim()
        job.set_progress(0.5, "Reading")
    assert folder.exists()


def test_a_payload_naming_a_folder_outside_staging_never_removes_it(
    personas, media, django_capture_on_commit_callbacks
):
    keep = media / "projects" / "1"
    keep.mkdir(parents=True)
    for staging in ("projects/1", "imports/../projects/1", "/etc", "imports"):
        job = Job.objects.create(kind="import", payload={"staging": staging})
        with django_capture_on_commit_callbacks(execute=True):
            job.cancel()
    assert keep.exists()


# Retention -----------------------------------------------------------------------------------------------
def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_export_zips_older_than_the_retention_are_removed_and_the_job_says_so(personas, media, settings):
    settings.EXPORT_RETENTION_DAYS = 7
    made = {}
    for days in (8, 1):
        zip_name = f"exports/job-{days}/export.zip"
        (media / zip_name).parent.mkdir(parents=True)
        (media / zip_name).write_bytes(b"PK")
        job = Job.objects.create(
            kind="export", state=Job.State.DONE, project=personas.project, result={"file": zip_name}
        )
        Job.objects.filter(pk=job.pk).update(finished_at=timezone.now() - timedelta(days=days))
        made[days] = (job, media / zip_name)
    expired = reaper.expire_exports(timezone.now())
    old_job, old_zip = made[8]
    new_job, new_zip = made[1]
    assert expired == [old_job.pk]
    assert not old_zip.exists() and new_zip.exists()
    old_job.refresh_from_db()
    assert old_job.result["expired"] and old_job.result["file"] == "" and "export again" in old_job.message


def test_export_folders_no_job_refers_to_are_removed_once_old(personas, media):
    orphan = media / "exports" / "job-99999"
    orphan.mkdir(parents=True)
    (orphan / "a.zip").write_bytes(b"PK")
    age(orphan, reaper.ORPHAN_GRACE_S + 60)
    fresh = media / "exports" / "job-99998"
    fresh.mkdir(parents=True)
    reaper.expire_exports(timezone.now())
    assert not orphan.exists() and fresh.exists()


def write_embedding(settings, key: str, seconds_old: float) -> Path:
    path = Path(settings.EMBEDDING_DIR) / "lite_medsam" / "lung" / key[:2] / f"{key}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, embedding=np.zeros((1,), np.float16))
    age(path, seconds_old)
    return path


def test_embeddings_of_deleted_series_are_removed_and_live_ones_kept(personas, media, settings):
    series = SeriesFactory(study__project=personas.project, content_hash="a" * 64, num_slices=3)
    live = write_embedding(settings, reaper.embedding_key(series.content_hash, 2), 2 * reaper.ORPHAN_GRACE_S)
    orphan = write_embedding(settings, reaper.embedding_key("b" * 64, 0), 2 * reaper.ORPHAN_GRACE_S)
    just_written = write_embedding(settings, reaper.embedding_key("c" * 64, 0), 10)
    removed = reaper.remove_orphan_embeddings(timezone.now())
    assert removed == 1 and live.exists() and not orphan.exists() and just_written.exists()
    # When the series is deleted, its embeddings go at the next sweep
    series.delete()
    reaper.remove_orphan_embeddings(timezone.now())
    assert not live.exists() and not live.parent.exists()


def test_the_embedding_key_is_the_one_the_workers_store_under(personas):
    from annotator.imaging.volumes import plane_grid
    from annotator.inference import slice_hash

    series = SeriesFactory(study__project=personas.project, content_hash="d" * 64, num_slices=5)
    assert reaper.embedding_key(series.content_hash, 4) == slice_hash(series, 4)
    coronal = plane_grid(series, "coronal")
    assert reaper.embedding_key(series.content_hash, 4, coronal) == slice_hash(series, 4, "coronal")


def test_embeddings_of_a_live_series_coronal_and_sagittal_slices_are_kept(personas, media, settings):
    from annotator.imaging.volumes import plane_grid

    series = SeriesFactory(
        study__project=personas.project, content_hash="e" * 64, shape=[4, 8, 6], num_slices=4
    )
    grids = {plane: plane_grid(series, plane) for plane in ("coronal", "sagittal")}
    kept = [
        write_embedding(
            settings,
            reaper.embedding_key(series.content_hash, 7, grids["coronal"]),
            2 * reaper.ORPHAN_GRACE_S,
        ),
        write_embedding(
            settings,
            reaper.embedding_key(series.content_hash, 5, grids["sagittal"]),
            2 * reaper.ORPHAN_GRACE_S,
        ),
    ]
    # A sagittal slice past the series' last column is no slice of it.
    stray = write_embedding(
        settings, reaper.embedding_key(series.content_hash, 6, grids["sagittal"]), 2 * reaper.ORPHAN_GRACE_S
    )
    assert reaper.remove_orphan_embeddings(timezone.now()) == 1
    assert all(path.exists() for path in kept) and not stray.exists()


def test_temporary_folders_of_killed_workers_are_removed_once_older_than_any_task(
    settings, tmp_path, monkeypatch
):
    monkeypatch.setattr(reaper.tempfile, "gettempdir", lambda: str(tmp_path))
    killed = tmp_path / "delineate-import-abc"
    killed.mkdir()
    age(killed, settings.CELERY_VISIBILITY_TIMEOUT_S + 60)
    running = tmp_path / "delineate-export-def"
    running.mkdir()
    other = tmp_path / "someone-elses"
    other.mkdir()
    age(other, settings.CELERY_VISIBILITY_TIMEOUT_S + 60)
    assert reaper.remove_stale_worker_temp(timezone.now()) == 1
    assert not killed.exists() and running.exists() and other.exists()


def test_celery_acknowledges_long_work_late_and_interactive_decodes_at_once():
    from django.conf import settings

    from webapp.celery import app

    app.loader.import_default_modules()
    for name in (
        "annotator.tasks.run_import_job",
        "annotator.tasks.run_export_job",
        "annotator.tasks.run_propagation_job",
    ):
        assert app.tasks[name].acks_late, name
    assert not app.tasks["annotator.tasks.decode_prompt"].acks_late
    assert app.conf.worker_prefetch_multiplier == 1
    visibility = app.conf.broker_transport_options["visibility_timeout"]
    assert (
        visibility > settings.JOB_TIME_LIMIT_S == app.tasks["annotator.tasks.run_propagation_job"].time_limit
    )


def test_a_test_process_removes_its_temporary_folder_when_it_exits(tmp_path):
    import subprocess
    import sys

    from scripts.livestack import ROOT

    env = {**os.environ, "TMPDIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "webapp.test_settings"}
    code = "from django.conf import settings; import os; print(os.path.isdir(os.path.dirname(settings.MEDIA_ROOT)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.stdout.strip() == "True", result.stderr
    assert not list(tmp_path.glob("delineate-test-*"))


def test_the_folder_of_a_killed_test_process_is_removed_by_the_next_one(tmp_path):
    import signal
    import subprocess
    import sys

    from scripts.livestack import ROOT, wait_until

    env = {**os.environ, "TMPDIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "webapp.test_settings"}
    hold = "from django.conf import settings; print(settings.MEDIA_ROOT, flush=True); import time; time.sleep(60)"
    # Given a test process killed by a signal (its exit hooks never run), and one still running
    killed = subprocess.Popen(
        [sys.executable, "-c", hold], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    running = subprocess.Popen(
        [sys.executable, "-c", hold], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        killed_folder = Path(killed.stdout.readline().strip()).parent
        running_folder = Path(running.stdout.readline().strip()).parent
        killed.send_signal(signal.SIGKILL)
        killed.wait(10)
        assert killed_folder.is_dir()
        # When the next test process starts
        code = "from django.conf import settings; settings.MEDIA_ROOT"
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True)
        # Then the killed one's folder is gone and the running one's kept
        wait_until(lambda: not killed_folder.exists(), "the killed process's folder removed", 5)
        assert running_folder.is_dir()
    finally:
        running.kill()
        running.wait(10)
        killed.kill()
