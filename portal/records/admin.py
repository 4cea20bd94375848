"""Admin for operators. Superusers see everything; a clinic admin (staff with a clinic_admin
membership) sees and changes only their own clinic's rows."""

from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.admin.views.main import SEARCH_VAR
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.core.exceptions import ValidationError

from portal.accounts.models import Role
from portal.accounts.selectors import user_membership
from portal.audit.models import Action
from portal.audit.models import Outcome as AuditOutcome
from portal.audit.services import audit_record

from .models import Lesion, LesionImage, Outcome, Patient


def admin_clinic(request):
    membership = user_membership(user=request.user)
    if membership and membership.role == Role.CLINIC_ADMIN and request.user.is_staff:
        return membership.clinic
    return None


# How each model a clinic admin may point at reaches its clinic.
_CLINIC_PATHS = {
    "accounts.Clinic": "pk",
    "records.Patient": "clinic",
    "records.Lesion": "patient__clinic",
    "records.LesionImage": "clinic",
    "auth.User": "membership__clinic",
    "classifier.BatchJob": "clinic",
}


class ClinicRawIdWidget(ForeignKeyRawIdWidget):
    """Django's raw-id widget names and links whatever id it holds, looked up without the form field's
    queryset: an add form opened with `?patient=<id>` would show another clinic's row."""

    def __init__(self, rel, admin_site, *, queryset, **kwargs):
        super().__init__(rel, admin_site, **kwargs)
        self.queryset = queryset

    def label_and_url_for_value(self, value):
        try:
            visible = self.queryset.filter(**{self.rel.get_related_field().name: value}).exists()
        except (ValueError, ValidationError):
            visible = False
        return super().label_and_url_for_value(value) if visible else ("", "")


class SuperuserOnlyAdmin(admin.ModelAdmin):
    """For anyone but a superuser these rows do not exist: Django's history view looks a row up before
    it checks permissions, so an unscoped queryset answers 403 for an id that exists and redirects for
    one that does not."""

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if request.user.is_superuser else qs.none()

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser


class ClinicScopedAdmin(admin.ModelAdmin):
    """Scoped to the clinic admin's clinic, and every page that shows rows is audited like an API read."""

    clinic_path = "clinic"
    # How a row reaches its patient, for the audit trail's patient_id (None: not one patient's data).
    patient_path: str | None = None

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        clinic = admin_clinic(request)
        return qs.filter(**{self.clinic_path: clinic}) if clinic else qs.none()

    def _allowed(self, request, obj=None):
        if request.user.is_superuser:
            return True
        return admin_clinic(request) is not None

    def has_module_permission(self, request):
        return self._allowed(request)

    def has_view_permission(self, request, obj=None):
        return self._allowed(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._allowed(request, obj)

    def has_add_permission(self, request):
        return self._allowed(request)

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # Every choice, raw-id fields included (they validate against this queryset), stays inside the
        # clinic admin's clinic: an id typed by hand cannot attach a row to another clinic's patient.
        clinic = None if request.user.is_superuser else admin_clinic(request)
        path = _CLINIC_PATHS.get(db_field.related_model._meta.label)
        if clinic is not None and path is not None:
            kwargs["queryset"] = db_field.related_model._default_manager.filter(**{path: clinic.pk})
            if db_field.name in self.raw_id_fields:
                kwargs["widget"] = ClinicRawIdWidget(
                    db_field.remote_field, self.admin_site, queryset=kwargs["queryset"], using=kwargs.get("using")
                )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_list_filter(self, request):
        # A plain relation filter lists every row of the related table (every clinic's name): offer only
        # the values found in the rows this admin may see.
        return [
            (name, admin.RelatedOnlyFieldListFilter)
            if isinstance(name, str) and get_fields_from_path(self.model, name)[-1].is_relation
            else name
            for name in super().get_list_filter(request)
        ]

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        if request.method == "GET" and response.status_code == 200:
            # That a search happened, never what was searched: it may be a patient's name.
            kind = "search" if request.GET.get(SEARCH_VAR) else "list"
            audit_record(user=request.user, action=Action.READ, object_type=self._audit_type(kind))
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        action = Action.READ if request.method in ("GET", "HEAD") else Action.UPDATE
        self._audit_object(request, object_id, action=action, kind="")
        return response

    def history_view(self, request, object_id, extra_context=None):
        response = super().history_view(request, object_id, extra_context)
        self._audit_object(request, object_id, action=Action.READ, kind="history")
        return response

    def _audit_type(self, kind: str) -> str:
        return "_".join(filter(None, ["admin", self.model._meta.model_name, kind]))

    def _audit_object(self, request, object_id, *, action: Action, kind: str) -> None:
        """One row per page: denied (and no patient id, which would leak it) when the row is outside
        the admin's clinic or does not exist, as the API's 404s are."""
        visible = self.get_queryset(request).filter(pk=object_id) if str(object_id).isdigit() else None
        found = visible is not None and visible.exists()
        patient_id = None
        if found and self.patient_path:
            patient_id = visible.values_list(self.patient_path, flat=True).first()
        audit_record(
            user=request.user,
            action=action,
            object_type=self._audit_type(kind),
            object_id=str(object_id)[:64],
            patient_id=patient_id,
            outcome=AuditOutcome.OK if found else AuditOutcome.DENIED,
        )


class LesionInline(admin.TabularInline):
    model = Lesion
    extra = 0
    fields = ["anatomic_site", "label", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(Patient)
class PatientAdmin(ClinicScopedAdmin):
    patient_path = "pk"
    list_display = ["id", "mrn", "name", "sex", "birth_year", "clinic", "last_visit", "created_at"]
    # Only the clinics the admin's own rows belong to: a plain filter would list every clinic's name.
    list_filter = ["sex", ("clinic", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["mrn", "name"]
    list_select_related = ["clinic"]
    inlines = [LesionInline]


@admin.register(Lesion)
class LesionAdmin(ClinicScopedAdmin):
    clinic_path = "patient__clinic"
    patient_path = "patient"
    list_display = ["id", "patient", "anatomic_site", "label", "created_at"]
    list_filter = ["anatomic_site"]
    search_fields = ["label", "patient__mrn"]
    list_select_related = ["patient"]
    raw_id_fields = ["patient"]


@admin.register(LesionImage)
class LesionImageAdmin(ClinicScopedAdmin):
    patient_path = "lesion__patient"
    list_display = ["id", "lesion", "clinic", "kind", "width", "height", "uploaded_at", "sha256"]
    list_filter = ["kind", ("clinic", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["sha256", "lesion__patient__mrn"]
    list_select_related = ["lesion", "clinic"]
    raw_id_fields = ["lesion", "uploaded_by"]
    readonly_fields = ["file", "sha256", "width", "height", "content_type", "uploaded_at", "uploaded_by"]


@admin.register(Outcome)
class OutcomeAdmin(ClinicScopedAdmin):
    clinic_path = "lesion__patient__clinic"
    patient_path = "lesion__patient"
    list_display = ["id", "lesion", "diagnosis", "benign_malignant", "date", "created_at"]
    list_filter = ["benign_malignant", "diagnosis"]
    search_fields = ["lesion__patient__mrn"]
    list_select_related = ["lesion"]
    raw_id_fields = ["lesion", "recorded_by"]
