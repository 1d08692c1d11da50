"""Loading the template catalog (``usecases/catalog/templates/*.yaml``) into system templates."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connections, transaction

from budportal.errors import ServiceValidationError, dotted
from usecases.models import UseCaseTemplate
from usecases.template_schema import load_yaml
from usecases.validation.templates import ValidatedTemplate, validate_template

logger = logging.getLogger(__name__)


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=dict)  # file name → problems
    deleted: list[str] = field(default_factory=list)  # with prune: system templates whose file is gone
    kept: list[str] = field(default_factory=list)  # with prune: file gone, but deployments still use them

    @property
    def skipped(self) -> list[str]:
        """What sync left as it was: unchanged, refused (by file stem) and kept templates."""
        return sorted({*self.unchanged, *self.kept, *(Path(name).stem for name in self.errors)})

    def summary(self) -> str:
        text = (
            f"{len(self.created)} created, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.errors)} refused"
        )
        return text + (f", {len(self.deleted)} deleted, {len(self.kept)} kept" if self.deleted or self.kept else "")


def templates_dir() -> Path:
    return Path(settings.USECASE_CATALOG_DIR) / "templates"


def template_sync_catalog(
    *, directory: Path | None = None, charts_dir: Path | None = None, prune: bool = False
) -> SyncReport:
    """Create or update a system template for every valid catalog file; idempotent.

    A file that fails validation is reported and skipped, never aborting the others. Custom templates are
    never touched, even when a catalog file has the same name. With ``prune``, a system template whose file
    is gone is deleted, unless deployments still use it (it is kept and reported).
    """
    report = SyncReport()
    paths = sorted((directory or templates_dir()).glob("*.yaml"))
    for path in paths:
        try:
            validated = _load_file(path, charts_dir=charts_dir)
            outcome = _upsert(validated)
        except ServiceValidationError as exc:
            report.errors[path.name] = [f"{dotted(e['loc']) or '(document)'}: {e['msg']}" for e in exc.errors]
            continue
        getattr(report, outcome).append(validated.name)
    if prune:
        _prune(report, keep={path.stem for path in paths})
    if report.errors:
        logger.warning("template catalog: %s: %s", report.summary(), report.errors)
    return report


def _prune(report: SyncReport, *, keep: set[str]) -> None:
    orphans = UseCaseTemplate.objects.filter(source=UseCaseTemplate.Source.SYSTEM).exclude(name__in=keep)
    for template in orphans.order_by("name"):
        if template.deployments.exists():  # they would lose their template (SET_NULL): keep it
            report.kept.append(template.name)
            continue
        template.delete()
        report.deleted.append(template.name)


def _load_file(path: Path, *, charts_dir: Path | None) -> ValidatedTemplate:
    validated = validate_template(load_yaml(path.read_bytes()), system=True, charts_dir=charts_dir)
    if validated.name != path.stem:
        raise ServiceValidationError.at(["name"], f"must match the file name '{path.stem}'")
    return validated


def _upsert(validated: ValidatedTemplate) -> str:
    fields = validated.model_fields()
    with transaction.atomic():
        # Only the ownerless template of this name is the catalog's; users' own templates may share it.
        ownerless = UseCaseTemplate.objects.select_for_update().filter(name=validated.name, owner__isnull=True)
        existing = ownerless.first()
        if existing is None:
            template = UseCaseTemplate(source=UseCaseTemplate.Source.SYSTEM, visibility="public")
            template.apply_document(fields)
            template.save()
            return "created"
        if not existing.is_system:
            raise ServiceValidationError.at(["name"], "a custom template has this name; it is left untouched")
        if all(getattr(existing, key) == fields[key] for key in UseCaseTemplate.DOCUMENT_FIELDS):
            return "unchanged"
        existing.apply_document(fields)
        existing.save()
        return "updated"


def autoload_catalog(using: str = "default", **kwargs: object) -> None:
    """post_migrate: load the catalog on first run (no system templates yet). Cheap when already loaded.

    Off when ``USECASE_CATALOG_AUTOLOAD`` is False (the test settings), so tests start from an empty table.
    """
    if not getattr(settings, "USECASE_CATALOG_AUTOLOAD", True) or using != "default":
        return
    if UseCaseTemplate._meta.db_table not in connections[using].introspection.table_names():
        return  # migrated backwards past the table
    if UseCaseTemplate.objects.filter(source=UseCaseTemplate.Source.SYSTEM).exists():
        return
    report = template_sync_catalog()
    logger.info("template catalog loaded: %s", report.summary())
