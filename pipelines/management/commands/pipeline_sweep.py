"""Run the pipeline sweep once, or every ``PIPELINE_SWEEP_SECONDS`` with ``--loop``.

django-q2 schedules fire at most once a minute; run this next to the qcluster when step timeouts and stale-step
recovery should act within seconds.
"""

import time

from django.conf import settings
from django.core.management.base import BaseCommand

from pipelines.sweep import sweep


class Command(BaseCommand):
    help = "Enforce pipeline timeouts, recover stale steps and redeliver undelivered events."

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="Repeat every PIPELINE_SWEEP_SECONDS until stopped.")

    def handle(self, *args, loop: bool = False, **options):
        while True:
            counts = sweep()
            if not loop:
                self.stdout.write(", ".join(f"{k}={v}" for k, v in counts.items()))
                return
            time.sleep(settings.PIPELINE_SWEEP_SECONDS)
