from django.contrib import admin

from portal.records.admin import SuperuserOnlyAdmin

from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(SuperuserOnlyAdmin):
    """Read-only for everyone, superusers included."""

    list_display = [
        "id",
        "at",
        "user_id",
        "action",
        "object_type",
        "object_id",
        "patient_id",
        "outcome",
        "ip",
        "request_id",
    ]
    list_filter = ["action", "outcome", "object_type"]
    search_fields = ["object_id", "request_id", "=user_id", "=patient_id"]
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
