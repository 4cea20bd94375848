"""Clinic IT's webhooks in the admin: a clinic admin registers and sees their own clinic's endpoints and
every delivery with its outcome; superusers see all."""

from django import forms
from django.contrib import admin

from portal.core.exceptions import ApplicationError
from portal.records.admin import ClinicScopedAdmin, admin_clinic

from .models import Delivery, Endpoint, Event
from .services import endpoint_url_check


class EndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(choices=Event.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = Endpoint
        fields = ["clinic", "url", "events", "is_active"]

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            endpoint_url_check(url)
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from exc
        return url


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    max_num = 0
    can_delete = False
    fields = ["event", "status", "attempts", "response_status", "error", "created_at", "delivered_at"]
    readonly_fields = fields
    ordering = ["-created_at"]

    # Shown to whoever may see the endpoint (its admin is clinic scoped); never edited here.
    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser or admin_clinic(request) is not None

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Endpoint)
class EndpointAdmin(ClinicScopedAdmin):
    form = EndpointForm
    list_display = ["id", "url", "clinic", "events", "is_active", "created_at"]
    list_filter = ["is_active", "clinic"]
    readonly_fields = ["secret", "created_by", "created_at"]

    def get_inlines(self, request, obj):
        return [DeliveryInline] if obj is not None else []

    def get_fields(self, request, obj=None):
        fields = ["url", "events", "is_active", "secret", "created_by", "created_at"]
        return (["clinic"] if request.user.is_superuser else []) + fields

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser:
            obj.clinic = admin_clinic(request)
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(Delivery)
class DeliveryAdmin(ClinicScopedAdmin):
    clinic_path = "endpoint__clinic"
    list_display = ["id", "event", "endpoint", "status", "attempts", "response_status", "error", "created_at"]
    list_filter = ["status", "event"]
    list_select_related = ["endpoint"]
    readonly_fields = [
        "endpoint", "event", "payload", "status", "attempts", "next_attempt_at", "last_attempt_at",
        "response_status", "error", "created_at", "delivered_at",
    ]  # fmt: skip

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
