from django.contrib import admin

from pipelines.models import Event, Notification, PipelineExecution, StepExecution


class StepInline(admin.TabularInline):
    model = StepExecution
    extra = 0
    fields = ("step_id", "action", "status", "attempt", "progress", "error", "started_at", "completed_at")
    readonly_fields = fields
    can_delete = False


@admin.register(PipelineExecution)
class PipelineExecutionAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "status", "owner", "progress", "created_at", "completed_at")
    list_filter = ("status",)
    search_fields = ("id", "name")
    readonly_fields = ("created_at", "started_at", "completed_at")
    inlines = [StepInline]


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("id", "topic", "type", "execution", "step_id", "delivered", "created_at")
    list_filter = ("topic", "type", "delivered")


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "level", "message", "read_at", "created_at")
