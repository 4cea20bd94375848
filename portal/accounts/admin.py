from django.contrib import admin

from portal.records.admin import ClinicScopedAdmin

from .models import Clinic, Invitation, Membership


@admin.register(Clinic)
class ClinicAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "created_at"]
    search_fields = ["name"]

    def has_module_permission(self, request):
        return request.user.is_superuser


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "clinic", "role", "firebase_uid"]
    list_filter = ["role", "clinic"]
    search_fields = ["user__username", "user__email", "firebase_uid"]
    list_select_related = ["user", "clinic"]
    raw_id_fields = ["user"]

    def has_module_permission(self, request):
        return request.user.is_superuser


@admin.register(Invitation)
class InvitationAdmin(ClinicScopedAdmin):
    list_display = ["id", "email", "clinic", "role", "created_at", "accepted_at"]
    list_filter = ["role", "accepted_at"]
    search_fields = ["email"]
    readonly_fields = ["accepted_at", "invited_by"]
    clinic_path = "clinic"

    def save_model(self, request, obj, form, change):
        if not change:
            obj.invited_by = request.user
        super().save_model(request, obj, form, change)
