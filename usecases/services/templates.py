"""Writes for use-case templates. The only place that creates, changes or deletes a UseCaseTemplate."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from budportal.errors import ConflictError, ForbiddenError, ServiceValidationError
from usecases.models import UseCaseTemplate
from usecases.validation.templates import ValidatedTemplate, validate_template

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
    if visibility is not None:
        _check_visibility(visibility)
        template.visibility = visibility
    template.apply_document(validated.model_fields())
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError:
        raise ConflictError(f"a template named '{template.name}' already exists") from None
    return template


def template_create(
    *, owner: User, document: Any, visibility: str = UseCaseTemplate.Visibility.PRIVATE
) -> UseCaseTemplate:
    """Create a custom template owned by ``owner`` from a document (the YAML/JSON form)."""
    _check_visibility(visibility)
    validated = template_validate(document=document)
    if UseCaseTemplate.objects.filter(name=validated.name).exists():
        raise ConflictError(f"a template named '{validated.name}' already exists")
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


def _ensure_custom(template: UseCaseTemplate) -> None:
    if template.is_system:
        raise ForbiddenError(f"'{template.name}' is a system template from the catalog and is read-only")
