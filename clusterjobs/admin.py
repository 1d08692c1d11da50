"""Admin for clusters and jobs. The kubeconfig is write-only: it can be replaced, never displayed."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from budportal.errors import ServiceValidationError
from clusterjobs import selectors
from clusterjobs.kubeconfig import MAX_KUBECONFIG_BYTES, parse_kubeconfig
from clusterjobs.models import Cluster, Job


class WriteOnlyTextarea(forms.Textarea):
    """Like ``PasswordInput(render_value=False)``: a re-displayed form (after an error) comes back empty."""

    def format_value(self, value):
        return None


class ClusterAdminForm(forms.ModelForm):
    # Never bound to the stored value, so the change page cannot render it.
    new_kubeconfig = forms.CharField(
        label="Kubeconfig",
        required=False,
        strip=False,
        widget=WriteOnlyTextarea(attrs={"rows": 8, "autocomplete": "off", "spellcheck": "false"}),
        help_text="Paste a kubeconfig to set or replace it. It is stored encrypted and never shown again; "
        "leave empty to keep the current one.",
    )
    kubeconfig_file = forms.FileField(label="…or upload a kubeconfig file", required=False)

    class Meta:
        model = Cluster
        fields = [
            "name",
            "owner",
            "ingress_url",
            "is_sandbox",
            "shared_with_groups",
            "pod_security_level",
            "allowed_cluster_kinds",
            "gateway_kind",
            "gateway_class",
            "gateway_namespace",
            "access_base_domain",
            "network_isolation",
        ]

    def _submitted_kubeconfig(self) -> str:
        upload = self.cleaned_data.get("kubeconfig_file")
        if upload:
            return upload.read(MAX_KUBECONFIG_BYTES + 1).decode("utf-8", errors="replace")
        return self.cleaned_data.get("new_kubeconfig") or ""

    def clean_allowed_cluster_kinds(self):
        return self.cleaned_data.get("allowed_cluster_kinds") or []

    @method_decorator(sensitive_variables())  # the pasted or uploaded kubeconfig
    def clean(self):
        cleaned = super().clean()
        text = self._submitted_kubeconfig()
        if not text and not self.instance.kubeconfig_encrypted:
            raise forms.ValidationError("A kubeconfig is required for a new cluster.")
        if text:
            try:
                parsed = parse_kubeconfig(text)
            except ServiceValidationError as exc:
                raise forms.ValidationError(exc.errors[0]["msg"]) from None
            self.instance.kubeconfig = text
            self.instance.server_url = parsed.server
        return cleaned


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin):
    """Adding a cluster takes ``clusterjobs.add_cluster`` (staff have it: see ``selectors.can_add_cluster``)."""

    form = ClusterAdminForm
    filter_horizontal = ("shared_with_groups",)
    list_display = ["name", "owner", "server_url", "is_sandbox", "pod_security_level", "created_at"]
    list_filter = ["is_sandbox", "pod_security_level"]
    search_fields = ["name", "server_url", "owner__username"]
    readonly_fields = ["server_url", "created_at"]
    fields = [
        *ClusterAdminForm.Meta.fields,
        "server_url",
        "new_kubeconfig",
        "kubeconfig_file",
        "created_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return selectors.can_add_cluster(request.user)

    @method_decorator(sensitive_post_parameters("new_kubeconfig"))
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, extra_context)


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["name", "job_type", "status", "cluster", "owner", "created_at", "completed_at"]
    list_filter = ["status", "job_type"]
    search_fields = ["id", "name", "source_id"]
    readonly_fields = [
        "id",
        "job_type",
        "source",
        "source_id",
        "cluster",
        "owner",
        "config",
        "status",
        "result",
        "error",
        "timeout_seconds",
        "created_at",
        "started_at",
        "completed_at",
        "deadline",
    ]
    fields = readonly_fields + ["name"]
