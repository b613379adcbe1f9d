"""``python manage.py simulate_study --json OUT``: a timing study on real data, done by scripted participants
through the real WebSocket and REST API (annotator/simulated_participants.py), reported like a real one.

The cases are the pyradiomics lesions with their reference masks (lung1, the demo CT, and lung2, brain1,
brain2, breast1), imported once into a project of their own, or, with ``--project``, any project's series
that have reference labels. The command starts a live stack (Redis, the Celery workers as ``make run`` runs
them, Daphne) on this database and media folder, or uses a running server with ``--url``. The study is
flagged simulated. Times are simulated: the events carry a simulated client clock advanced by the stated
human times and by the model's real answer times (docs/timing.md lists the defaults and their sources).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from annotator.actions import simulation
from annotator.actions.timing_report import study_report
from annotator.errors import DomainError
from annotator.models import Project
from annotator.simulated_participants import Behaviour, Participant

# Where the defaults come from (printed with the results and on the report page).
SOURCES = {
    "box_s": "Papadopoulos et al., Extreme clicking for efficient object annotation, ICCV 2017: 7.0 s per box",
    "stroke_overhead_s": "Fitts' law pointing to a contour point ~200 px away within ~4 px (ID ≈ 5.7 bits) at the "
    "mouse throughput of 4.9 bits/s (Soukoreff & MacKenzie, IJHCS 2004): about 1.2 s",
    "click_s": "the same pointing law for the fill tool's larger target (ID ≈ 4 bits): about 0.8 s",
    "draw_speed_px_s": "assumed, in image pixels at 1:1 zoom: by the steering law (Accot & Zhai, CHI 1997) tracing "
    "speed grows with the tolerated deviation; no published per-pixel contouring speed was found, so measure "
    "your annotators and pass --draw-speed",
    "slice_change_s": "assumed: scroll one slice and look at it",
    "review_s": "assumed: look at the model's mask before accepting or correcting it",
    "target_dice": "the issue: corrections until Dice ≥ 0.9 against the reference, or a cap",
}


class Command(BaseCommand):
    help = "Run a simulated timing study with scripted participants on real data; print its results as JSON."

    def add_arguments(self, parser: ArgumentParser) -> None:
        defaults = Behaviour()
        parser.add_argument("--json", required=True, type=Path, help="where to write the results")
        parser.add_argument("--cases", type=int, default=None, help="cases to use (default: all there are)")
        parser.add_argument("--participants", type=int, default=4)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--project", type=int, default=None, help="a project with reference masks")
        parser.add_argument("--url", default=None, help="a running server to use instead of starting one")
        parser.add_argument("--draw-speed", type=float, default=defaults.draw_speed_px_s, help="image px/s")
        parser.add_argument("--stroke-overhead", type=float, default=defaults.stroke_overhead_s, help="s")
        parser.add_argument("--click", type=float, default=defaults.click_s, help="s per fill click")
        parser.add_argument("--box-time", type=float, default=defaults.box_s, help="s to draw a box")
        parser.add_argument("--slice-change", type=float, default=defaults.slice_change_s, help="s")
        parser.add_argument("--review", type=float, default=defaults.review_s, help="s to look at a mask")
        parser.add_argument("--target-dice", type=float, default=defaults.target_dice)
        parser.add_argument("--max-corrections", type=int, default=defaults.max_corrections, help="per slice")
        parser.add_argument(
            "--speed-sd", type=float, default=defaults.speed_sd, help="participants' pace spread"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        behaviour = Behaviour(
            draw_speed_px_s=options["draw_speed"],
            stroke_overhead_s=options["stroke_overhead"],
            click_s=options["click"],
            box_s=options["box_time"],
            slice_change_s=options["slice_change"],
            review_s=options["review"],
            target_dice=options["target_dice"],
            max_corrections=options["max_corrections"],
            speed_sd=options["speed_sd"],
        )
        if min(behaviour.draw_speed_px_s, options["participants"]) <= 0 or behaviour.speed_sd < 0:
            raise CommandError("Speeds and counts must be positive.")
        if not options["url"]:
            call_command("migrate", interactive=False, verbosity=0)
        project = self.project(options["project"])
        rng = np.random.default_rng(options["seed"])
        cases = simulation.reference_cases(project)
        if options["cases"] is not None:
            if options["cases"] < 1:
                raise CommandError("--cases must be at least 1.")
            cases = [cases[i] for i in sorted(rng.permutation(len(cases))[: options["cases"]])]
        # Each participant's pace multiplies their human times (lognormal around 1, --speed-sd).
        paces = [
            round(float(p), 4) for p in np.exp(rng.normal(0.0, behaviour.speed_sd, options["participants"]))
        ]
        params = {
            **behaviour.as_dict(),
            "seed": options["seed"],
            "paces": paces,
            "sources": SOURCES,
            "project": project.pk,
        }
        try:
            made = simulation.do_create_simulated_study(
                project, cases, options["participants"], options["seed"], params
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(
            f"simulated study {made.study.pk}: {len(cases)} cases × {len(made.participants)} participants"
        )
        byref = {(c.series, c.label): c for c in cases}
        stack = None if options["url"] else self.start_stack()
        try:
            base = options["url"] if stack is None else stack.base_url
            people = [
                Participant(
                    name, password, base, behaviour, np.random.default_rng([options["seed"], n]), float(pace)
                )
                for n, ((name, password), pace) in enumerate(zip(made.participants, paces, strict=True))
            ]
            for person in people:
                asyncio.run(person.run(made.study.pk, byref))
                self.stderr.write(f"  {person.username} (pace ×{person.pace:.2f}): {len(person.done)} tasks")
        finally:
            if stack is not None:
                stack.stop_all()
        self.write(made, params, options["json"])

    def project(self, project_id: int | None) -> Project:
        if project_id is None:
            self.stderr.write("importing the pyradiomics lesions (once) ...")
            # The imports run here, before any Redis is up: nobody follows their progress, so the job's
            # "could not push progress" warnings would only be noise.
            jobs_log = logging.getLogger("annotator.actions.jobs")
            level = jobs_log.level
            jobs_log.setLevel(logging.ERROR)
            try:
                return simulation.lesions_project()
            finally:
                jobs_log.setLevel(level)
        project = Project.objects.filter(pk=project_id).first()
        if project is None:
            raise CommandError(f"No project {project_id}.")
        return project

    def start_stack(self) -> Any:
        """Redis, the workers and Daphne on this database and media folder (scripts/livestack.py)."""
        from scripts.livestack import LiveStack

        database = settings.DATABASES["default"]
        url = os.environ.get("DATABASE_URL") or f"sqlite:///{database['NAME']}"
        stack = LiveStack(extra_env={"DATABASE_URL": url, "MEDIA_ROOT": str(settings.MEDIA_ROOT)})
        self.stderr.write("starting Redis, the workers and the web server ...")
        try:
            stack.start_redis()
            stack.start_web()
            stack.start_workers()
        except Exception:
            stack.stop_all()
            raise
        return stack

    def write(self, made: simulation.Simulated, params: dict[str, Any], out: Path) -> None:
        report = study_report(made.study)
        project = made.study.project_id
        result = {
            "time_saved_pct": report["time_saved_pct"],
            "ci95": report["ci95"],
            "p_value": report["p_value"],
            "n_masks": report["n_masks"],
            "dice_manual": report["quality"]["manual"]["dice"],
            "dice_assisted": report["quality"]["assisted"]["dice"],
            "params": params,
            "n_pairs": report["n_pairs"],
            "mean_active_s": {c: report["per_condition"][c]["mean"] for c in ("manual", "assisted")},
            "study": made.study.pk,
            "simulated": True,
            "report_url": f"/projects/{project}/timing-studies/{made.study.pk}/report/",
            "note": "Simulated time: scripted participants, a simulated client clock; the model's waits are real.",
        }
        text = json.dumps(result, indent=2)
        self.stdout.write(text)
        out.write_text(text + "\n")
