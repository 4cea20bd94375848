"""Reviews are read-only here (signed ones are locked, drafts are their reader's): operators look, the API
writes. A clinic admin sets their clinic's second-read policy."""

from django.contrib import admin

from portal.records.admin import ClinicScopedAdmin

from .models import Review, ReviewPolicy


@admin.register(Review)
class ReviewAdmin(ClinicScopedAdmin):
    patient_path = "prediction__image__lesion__patient"
    list_display = [
        "id", "prediction", "kind", "reader", "assessment", "management", "follow_up_date", "agrees_with_model",
        "needs_second_read", "signed_at", "supersedes",
    ]  # fmt: skip
    list_filter = ["kind", "assessment", "management", "agrees_with_model", "needs_second_read"]
    search_fields = ["=id", "=prediction__id"]
    list_select_related = ["prediction", "reader", "supersedes"]
    readonly_fields = [f.name for f in Review._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ReviewPolicy)
class ReviewPolicyAdmin(ClinicScopedAdmin):
    list_display = ["clinic", "second_read_refer", "second_read_disagreement", "second_read_share", "updated_at"]
    list_select_related = ["clinic"]
