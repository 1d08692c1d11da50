from django.core.management.base import BaseCommand, CommandParser

from usecases.catalog_sync import template_sync_catalog
from usecases.component_catalog import catalog_errors


class Command(BaseCommand):
    help = "Load usecases/catalog/templates/*.yaml as system templates (idempotent; custom templates untouched)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--strict", action="store_true", help="exit non-zero when any catalog file is refused")
        parser.add_argument(
            "--prune", action="store_true", help="delete system templates whose catalog file is gone (if unused)"
        )

    def handle(self, *args, strict: bool = False, prune: bool = False, **options) -> None:
        for problem in catalog_errors():
            self.stderr.write(f"component catalog: {problem}")
        report = template_sync_catalog(prune=prune)
        for label in ("created", "updated", "deleted", "kept"):
            for name in getattr(report, label):
                self.stdout.write(f"  {label}: {name}")
        for filename, problems in report.errors.items():
            self.stderr.write(self.style.ERROR(f"  refused {filename}:"))
            for problem in problems:
                self.stderr.write(f"    {problem}")
        self.stdout.write(f"Templates: {report.summary()}.")
        if strict and report.errors:
            raise SystemExit(1)
