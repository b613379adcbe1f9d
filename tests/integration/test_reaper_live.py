"""The reaper runs inside a real embed worker: a job left "running" by a dead worker is failed, and a job
whose message was lost is sent again and then done, with no scheduler process beside the workers."""

from __future__ import annotations

import json

import pytest

from scripts.livestack import LiveStack, wait_until

pytestmark = pytest.mark.integration

SEED = """
import json
from datetime import timedelta
import numpy as np
from django.contrib.auth import get_user_model
from django.utils import timezone
from annotator.models import Job, Membership, Project, Role
from tests.segmentation.conftest import make_series
owner = get_user_model().objects.create(username="olga")
project = Project.objects.create(name="Reaped", created_by=owner)
Membership.objects.create(project=project, user=owner, role=Role.OWNER)
make_series(project, np.zeros((2, 16, 16), dtype=np.int16))
then = timezone.now() - timedelta(minutes=5)
# A propagation whose worker died five minutes ago, and an export whose message never reached a worker.
dead = Job.objects.create(kind="propagate", state="running", project=project, created_by=owner, attempts=1)
lost = Job.objects.create(kind="export", project=project, created_by=owner, payload={"format": "png"})
Job.objects.filter(pk=dead.pk).update(heartbeat_at=then, updated_at=then)
Job.objects.filter(pk=lost.pk).update(updated_at=then)
print(json.dumps({"dead": dead.pk, "lost": lost.pk}))
"""

STATE = "import json; from annotator.models import Job; j = Job.objects.get(pk={pk}); print(json.dumps([j.state, j.error]))"


def test_an_embed_worker_reaps_a_dead_job_and_resends_a_lost_one():
    stack = LiveStack(
        extra_env={
            "JOB_HEARTBEAT_S": "1",
            "JOB_HEARTBEAT_TIMEOUT_S": "3",
            "JOB_PENDING_RESEND_S": "2",
            "REAPER_INTERVAL_S": "1",
        }
    )
    try:
        stack.start_redis()
        stack.manage("migrate", "--no-input", "-v", "0")
        ids = json.loads(stack.manage("shell", "-c", SEED).splitlines()[-1])
        # Given only an embed worker (no beat process, nothing else)
        stack.start_worker("embed", queues="embed,train", concurrency=1)

        def state(pk: int) -> tuple[str, str]:
            found, error = json.loads(stack.manage("shell", "-c", STATE.format(pk=pk)).splitlines()[-1])
            return found, error

        # Then the dead propagation ends failed with the reason, and the lost export is sent again and done
        wait_until(lambda: state(ids["dead"])[0] == "failed", "the dead job reaped", 60)
        wait_until(lambda: state(ids["lost"])[0] == "done", "the lost job re-sent and run", 90)
        assert "stopped" in state(ids["dead"])[1]
        assert "running the job reaper" in stack.log("embed")
    finally:
        stack.stop_all()
