from __future__ import annotations

from typing import Any

import yaml
from django.conf import settings
from django.db import models


class UseCaseTemplate(models.Model):
    """A use-case template: components (catalog selections or Helm charts), parameters and deployment waves.

    The JSON fields hold the validated document (``usecases.validation.templates``); write them only through
    ``usecases.services.templates`` so every saved template has passed validation.
    """

    class Source(models.TextChoices):
        SYSTEM = "system", "System (catalog)"
        CUSTOM = "custom", "Custom"

    class Visibility(models.TextChoices):
        PRIVATE = "private", "Private"
        PUBLIC = "public", "Public"

    DOCUMENT_FIELDS = (
        "name", "display_name", "version", "description", "category", "tags",
        "components", "parameters", "resources", "deployment_order",
    )  # fmt: skip

    # Unique per owner (see Meta); ownerless (system) names are unique among themselves. Lookups by name go
    # through usecases.selectors.templates.template_resolve: the caller's own first, then the system one.
    name = models.SlugField(max_length=63)
    display_name = models.CharField(max_length=200)
    version = models.CharField(max_length=64, default="1.0.0")
    description = models.TextField(blank=True)
    category = models.CharField(max_length=64, blank=True, db_index=True)
    tags = models.JSONField(default=list, blank=True)
    components = models.JSONField(default=list)
    parameters = models.JSONField(default=dict, blank=True)
    resources = models.JSONField(default=dict, blank=True)
    # As authored: names and lists of names (parallel waves); empty means the components' listed order.
    deployment_order = models.JSONField(default=list, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.CUSTOM, db_index=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="usecase_templates",
    )
    visibility = models.CharField(max_length=16, choices=Visibility.choices, default=Visibility.PRIVATE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(source="system") | models.Q(owner__isnull=True),
                name="usecase_template_system_has_no_owner",
            ),
            models.UniqueConstraint(fields=["owner", "name"], name="usecase_template_unique_owner_name"),
            # NULLs are distinct in a unique index, so the ownerless (system) names need their own constraint.
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(owner__isnull=True), name="usecase_template_unique_system_name"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_system(self) -> bool:
        return self.source == self.Source.SYSTEM

    @property
    def waves(self) -> list[list[str]]:
        """The deployment waves: each a list of component names installed in parallel, in order."""
        if not self.deployment_order:
            return [[c["name"]] for c in self.components]
        return [[entry] if isinstance(entry, str) else list(entry) for entry in self.deployment_order]

    @property
    def component_types(self) -> list[str]:
        return sorted({c["type"] for c in self.components})

    def component(self, name: str) -> dict[str, Any] | None:
        return next((c for c in self.components if c["name"] == name), None)

    def to_document(self) -> dict[str, Any]:
        """The template as its authored document (what the API accepts and the YAML export contains)."""
        doc = {field: getattr(self, field) for field in self.DOCUMENT_FIELDS}
        return {key: value for key, value in doc.items() if value not in ({}, [], "") or key == "components"}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_document(), sort_keys=False, allow_unicode=True, width=100)

    def apply_document(self, fields: dict[str, Any]) -> None:
        """Set the document fields from a validated template's ``model_fields()``."""
        for field in self.DOCUMENT_FIELDS:
            setattr(self, field, fields[field])
