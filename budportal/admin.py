from django.contrib import admin, messages
from django.http import HttpRequest

from budportal.models import ApiToken, hash_token


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "expires_at"]
    list_filter = ["user"]
    search_fields = ["name", "user__username", "prefix"]
    fields = ["user", "name", "expires_at", "prefix", "created_at", "last_used_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]

    def save_model(self, request: HttpRequest, obj: ApiToken, form, change: bool) -> None:
        if not change:
            # The raw token is shown once, here; afterwards only its hash exists.
            token, raw = ApiToken.issue(user=obj.user, name=obj.name, expires_at=obj.expires_at)
            obj.pk, obj.prefix, obj.token_hash = token.pk, token.prefix, hash_token(raw)
            messages.warning(request, f"New API token (copy it now, it is not shown again): {raw}")
            return
        super().save_model(request, obj, form, change)
