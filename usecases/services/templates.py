"""Writes for use-case templates. The only place that creates, changes or deletes a UseCaseTemplate."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from budportal.errors import ConflictError, ForbiddenError, ServiceValidationError
from usecases.catalog_sync import SyncReport, template_sync_catalog
from usecases.models import UseCaseTemplate
from usecases.validation.templates import ValidatedTemplate, remote_chart_errors, validate_template

VISIBILITIES = tuple(UseCaseTemplate.Visibility.values)


def template_validate(*, document: Any) -> ValidatedTemplate:
    """Validate a custom template document without saving it (raises ServiceValidationError)."""
    return validate_template(document)


def _check_visibility(visibility: str) -> None:
    if visibility not in VISIBILITIES:
        raise ServiceValidationError.at(["visibility"], f"must be one of {', '.join(VISIBILITIES)}")


def template_save(
    *, template: UseCaseTemplate, validated: ValidatedTemplate, visibility: str | None = None
) -> UseCaseTemplate:
    """Write a validated document into ``template`` (new or existing); a taken name is a ConflictError."""
    if template.owner_id is not None and (errors := remote_chart_errors(validated, owner_id=template.owner_id)):
        raise ServiceValidationError(errors)
    if visibility is not None:
        _check_visibility(visibility)
        template.visibility = visibility
    template.apply_document(validated.model_fields())
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError:
        raise ConflictError(f"you already have a template named '{template.name}'") from None
    return template


def template_create(
    *, owner: User, document: Any, visibility: str = UseCaseTemplate.Visibility.PRIVATE
) -> UseCaseTemplate:
    """Create a custom template owned by ``owner`` from a document (the YAML/JSON form)."""
    _check_visibility(visibility)
    validated = template_validate(document=document)
    # Names are per owner: only the caller's own templates can clash (others' names, private or not, are
    # neither revealed nor reserved; a system template of the same name is shadowed for this owner).
    if UseCaseTemplate.objects.filter(owner=owner, name=validated.name).exists():
        raise ConflictError(f"you already have a template named '{validated.name}'")
    template = UseCaseTemplate(owner=owner, source=UseCaseTemplate.Source.CUSTOM)
    return template_save(template=template, validated=validated, visibility=visibility)


def template_update(*, template: UseCaseTemplate, document: Any, visibility: str | None = None) -> UseCaseTemplate:
    """Replace a custom template's document. The name in the document must stay the template's name."""
    _ensure_custom(template)
    if isinstance(document, dict):
        document = {**document, "name": document.get("name", template.name)}
    validated = template_validate(document=document)
    if validated.name != template.name:
        raise ServiceValidationError.at(["name"], f"cannot be changed (the template is '{template.name}')")
    validated = _with_bumped_version(template, validated)
    return template_save(template=template, validated=validated, visibility=visibility)


def template_patch(*, template: UseCaseTemplate, changes: Any, visibility: str | None = None) -> UseCaseTemplate:
    """Change some fields of a custom template: ``changes`` is merged (top-level keys) into its document,
    and the result is validated exactly as a created template is."""
    _ensure_custom(template)
    if not isinstance(changes, dict):
        raise ServiceValidationError.at([], "a partial update must be a mapping of template fields")
    unknown = sorted(set(changes) - set(UseCaseTemplate.DOCUMENT_FIELDS))
    if unknown:
        raise ServiceValidationError.at([unknown[0]], "is not a template field")
    document = {**template.to_document(), **changes}
    return template_update(template=template, document=document, visibility=visibility)


_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


def _with_bumped_version(template: UseCaseTemplate, validated: ValidatedTemplate) -> ValidatedTemplate:
    """A change that keeps the version gets the next patch version, so a deployment's ``template_version``
    always names what it runs. An explicit new version, an unchanged document or a version that is not
    ``x.y.z`` is left as given."""
    fields = validated.model_fields()
    match = _SEMVER.match(template.version or "")
    if fields.get("version") != template.version or match is None:
        return validated
    if all(getattr(template, key, None) == value for key, value in fields.items() if key != "version"):
        return validated
    major, minor, patch = (int(part) for part in match.groups())
    bumped = validated.document.model_copy(update={"version": f"{major}.{minor}.{patch + 1}"})
    return dataclasses.replace(validated, document=bumped)


def template_delete(*, template: UseCaseTemplate) -> None:
    _ensure_custom(template)
    try:
        template.delete()
    except ProtectedError:
        raise ConflictError(f"template '{template.name}' is used by deployments; delete those first") from None


def template_sync(*, prune: bool = True) -> SyncReport:
    """Load the catalog as system templates (as ``manage.py sync_templates``); with ``prune``, system
    templates whose catalog file is gone are deleted unless deployments still use them (then skipped)."""
    return template_sync_catalog(prune=prune)


def _ensure_custom(template: UseCaseTemplate) -> None:
    if template.is_system:
        raise ForbiddenError(f"'{template.name}' is a system template from the catalog and is read-only")
