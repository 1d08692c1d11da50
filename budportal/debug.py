"""The exception reporter filter: secrets stay hidden on Django's debug page too.

Django's ``SafeExceptionReporterFilter`` is inactive while ``DEBUG`` is on, so ``sensitive_variables`` and
``sensitive_post_parameters`` would hide nothing exactly where a traceback is shown to the browser. The portal
is run with ``DEBUG=true`` against real clusters (``scripts/portal.sh``): the filter stays on.
"""

from __future__ import annotations

from django.http import HttpRequest
from django.views.debug import SafeExceptionReporterFilter


class AlwaysSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    def is_active(self, request: HttpRequest | None) -> bool:
        return True
