from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html

from budportal.errors import ServiceValidationError, dotted
from usecases.models import UseCaseTemplate
from usecases.services import templates as services
from usecases.template_schema import COMPONENT_TYPES, load_yaml

NEW_TEMPLATE_YAML = """\
name: my-template
display_name: My Template
version: "1.0.0"
description: ""
category: custom
tags: []
components:
  - name: llm
    display_name: Language Model
    type: model
    default_component: llama-3-8b
    compatible_components: [llama-3-8b, mistral-7b]
parameters: {}
"""


class TemplateYamlForm(forms.ModelForm):
    """The whole template as one YAML document; every validation problem is shown under it with its path."""

    document = forms.CharField(
        label="Template (YAML)",
        widget=forms.Textarea(
            attrs={"rows": 36, "cols": 110, "spellcheck": "false", "style": "font-family: monospace"}
        ),
        help_text="Format: usecases/catalog/README.md. Errors name their path, e.g. components[2].chart.ref.",
    )

    class Meta:
        model = UseCaseTemplate
        fields = ["visibility"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.validated = None
        self.fields["document"].initial = self.instance.to_yaml() if self.instance.pk else NEW_TEMPLATE_YAML

    def clean_document(self) -> str:
        text = self.cleaned_data["document"]
        try:
            self.validated = services.template_validate(document=load_yaml(text))
            self._check_name_free(self.validated.name)
        except ServiceValidationError as exc:
            raise forms.ValidationError([f"{dotted(e['loc']) or 'document'}: {e['msg']}" for e in exc.errors]) from None
        return text

    owner_id: int | None = None  # set by UseCaseTemplateAdmin.get_form: names are unique per owner

    def _check_name_free(self, name: str) -> None:
        same_owner = UseCaseTemplate.objects.filter(name=name, owner_id=self.owner_id)
        taken = same_owner.exclude(pk=self.instance.pk).exists()
        if taken:
            raise ServiceValidationError.at(["name"], f"a template named '{name}' already exists")


class ComponentTypeFilter(admin.SimpleListFilter):
    title = "component type"
    parameter_name = "component_type"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(t, t) for t in COMPONENT_TYPES]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        wanted = self.value()
        if not wanted:
            return queryset
        # Components live in a JSON list; templates are few, so match in Python rather than per-database SQL.
        pks = [t.pk for t in queryset.only("pk", "components") if wanted in t.component_types]
        return queryset.filter(pk__in=pks)


@admin.register(UseCaseTemplate)
class UseCaseTemplateAdmin(admin.ModelAdmin):
    form = TemplateYamlForm
    list_display = ["name", "display_name", "category", "source", "visibility", "owner", "types", "updated_at"]
    list_filter = ["category", "source", "visibility", ComponentTypeFilter]
    search_fields = ["name", "display_name", "description", "category"]
    readonly_fields = ["source", "owner", "created_at", "updated_at"]
    fields = ["document", "visibility", "source", "owner", "created_at", "updated_at"]
    actions = ["export_yaml"]

    class Media:
        css = {"all": ["css/admin.css"]}  # a stylesheet, not style="": the CSP allows no inline styles

    @admin.display(description="component types")
    def types(self, obj: UseCaseTemplate) -> str:
        return ", ".join(obj.component_types)

    @admin.display(description="Template (YAML)")
    def document(self, obj: UseCaseTemplate) -> str:
        # Shown instead of the textarea when the template is read-only (system templates).
        return format_html('<pre class="template-yaml">{}</pre>', obj.to_yaml())

    def has_change_permission(self, request: HttpRequest, obj: UseCaseTemplate | None = None) -> bool:
        if obj is not None and obj.is_system:
            return False  # catalog templates change only through sync_templates
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: UseCaseTemplate | None = None) -> bool:
        if obj is not None and obj.is_system:
            return False
        return super().has_delete_permission(request, obj)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        form.owner_id = obj.owner_id if obj is not None else request.user.pk  # a fresh class per request
        return form

    def save_model(self, request: HttpRequest, obj: UseCaseTemplate, form: TemplateYamlForm, change: bool) -> None:
        if not change:
            obj.owner, obj.source = request.user, UseCaseTemplate.Source.CUSTOM
        services.template_save(template=obj, validated=form.validated)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for template in queryset.exclude(source=UseCaseTemplate.Source.SYSTEM):
            services.template_delete(template=template)

    @admin.action(description="Export YAML")
    def export_yaml(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        templates = list(queryset.order_by("name"))
        body = "---\n".join(t.to_yaml() for t in templates)
        filename = f"{templates[0].name}.yaml" if len(templates) == 1 else "templates.yaml"
        response = HttpResponse(body, content_type="application/yaml; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
