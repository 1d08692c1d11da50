"""Forms of the cluster pages."""

from __future__ import annotations

from typing import Any

from django import forms


class ClusterForm(forms.Form):
    """Register a cluster from a kubeconfig, pasted or uploaded (an upload wins when both are given)."""

    name = forms.CharField(max_length=100)
    ingress_url = forms.URLField(required=False, max_length=500, assume_scheme="https")
    kubeconfig = forms.CharField(widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}), required=False)
    kubeconfig_file = forms.FileField(required=False, label="or upload a kubeconfig file")

    MAX_KUBECONFIG_BYTES = 256 * 1024

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        upload = data.get("kubeconfig_file")
        if upload is not None:
            if upload.size > self.MAX_KUBECONFIG_BYTES:
                raise forms.ValidationError("the kubeconfig file is larger than 256 KiB")
            try:
                data["kubeconfig"] = upload.read().decode("utf-8")
            except UnicodeDecodeError:
                raise forms.ValidationError("the kubeconfig file is not UTF-8 text") from None
        if not (data.get("kubeconfig") or "").strip():
            raise forms.ValidationError("paste a kubeconfig or upload one")
        return data
