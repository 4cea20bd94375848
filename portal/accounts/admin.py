from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group

from portal.records.admin import ClinicScopedAdmin, SuperuserOnlyAdmin

from .models import Clinic, Invitation, Membership

# Django's own user and group admins, for superusers only (see SuperuserOnlyAdmin).
admin.site.unregister(get_user_model())
admin.site.unregister(Group)


@admin.register(get_user_model())
class PortalUserAdmin(SuperuserOnlyAdmin, UserAdmin):
    pass


@admin.register(Group)
class PortalGroupAdmin(SuperuserOnlyAdmin, GroupAdmin):
    pass


@admin.register(Clinic)
class ClinicAdmin(SuperuserOnlyAdmin):
    list_display = ["id", "name", "created_at"]
    search_fields = ["name"]


@admin.register(Membership)
class MembershipAdmin(SuperuserOnlyAdmin):
    list_display = ["id", "user", "clinic", "role", "firebase_uid"]
    list_filter = ["role", "clinic"]
    search_fields = ["user__username", "user__email", "firebase_uid"]
    list_select_related = ["user", "clinic"]
    raw_id_fields = ["user"]


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
