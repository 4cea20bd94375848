from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse

from portal.accounts.models import Clinic
from portal.core.exceptions import ApplicationError
from portal.records.admin import ClinicScopedAdmin, SuperuserOnlyAdmin

from . import operating_points, services
from .models import BatchJob, ClinicOperatingPoint, ModelVersion, Prediction


class FitOperatingPointForm(forms.Form):
    clinic = forms.ModelChoiceField(queryset=Clinic.objects.order_by("name"))
    target_sensitivity = forms.FloatField(
        min_value=0.5, max_value=0.999, initial=operating_points.DEFAULT_TARGET_SENSITIVITY
    )


@admin.register(ModelVersion)
class ModelVersionAdmin(SuperuserOnlyAdmin):
    """Only superusers manage model versions."""

    list_display = [
        "id",
        "name",
        "version",
        "arch",
        "img_size",
        "threshold",
        "val_auc",
        "is_active",
        "is_demo",
        "created_at",
        "activated_at",
    ]
    list_filter = ["is_active", "is_demo", "arch"]
    search_fields = ["name", "version", "sha256"]
    readonly_fields = [
        "artifact_path", "sha256", "onnx_path", "onnx_sha256", "metrics", "plots", "preprocess", "class_names",
        "calibration", "is_active", "created_at", "activated_at",
    ]  # fmt: skip
    actions = ["activate", "fit_operating_point"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="val ROC AUC")
    def val_auc(self, obj):
        return obj.val_auc

    @admin.action(description="Activate (and deactivate the current one)")
    def activate(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Choose exactly one version to activate.", messages.ERROR)
            return
        version = services.model_version_activate(model_version=queryset.get(), user=request.user)
        self.message_user(request, f"{version} is now the active model.")

    @admin.action(description="Fit operating point for clinic…")
    def fit_operating_point(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Choose exactly one version.", messages.ERROR)
            return None
        version = queryset.get()
        form = FitOperatingPointForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return TemplateResponse(
                request,
                "admin/classifier/fit_operating_point.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Fit operating point",
                    "form": form,
                    "version": version,
                },
            )
        try:
            point = operating_points.operating_point_fit(
                clinic=form.cleaned_data["clinic"],
                model_version=version,
                target_sensitivity=form.cleaned_data["target_sensitivity"],
                actor=request.user,
            )
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return None
        self.message_user(
            request,
            f"Operating point {point.pk} is now active for {point.clinic}: threshold {point.threshold:.3f} "
            f"(n={point.report['n']}, {point.report['melanomas']} melanoma).",
        )
        return None


@admin.register(ClinicOperatingPoint)
class ClinicOperatingPointAdmin(ClinicScopedAdmin):
    list_display = ["id", "clinic", "model_version", "threshold", "target_sensitivity", "is_active", "created_at"]
    list_filter = ["is_active", "model_version"]
    list_select_related = ["clinic", "model_version"]
    readonly_fields = [f.name for f in ClinicOperatingPoint._meta.fields]
    actions = ["deactivate"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Deactivate (back to the version's global threshold)")
    def deactivate(self, request, queryset):
        for point in queryset.filter(is_active=True):
            operating_points.operating_point_deactivate(operating_point=point, actor=request.user)
        self.message_user(request, "New predictions of those clinics use the global threshold again.")


@admin.register(Prediction)
class PredictionAdmin(ClinicScopedAdmin):
    clinic_path = "image__clinic"
    patient_path = "image__lesion__patient"
    list_display = [
        "id",
        "image",
        "model_version",
        "status",
        "melanoma_probability",
        "risk_category",
        "attempts",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "risk_category", "model_version"]
    search_fields = ["=id", "=image__id", "image_sha256"]
    list_select_related = ["image", "model_version"]
    raw_id_fields = ["image", "batch", "requested_by"]
    readonly_fields = [f.name for f in Prediction._meta.fields]
    actions = ["rerun_with_active"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Re-run the selected images with the active model")
    def rerun_with_active(self, request, queryset):
        version = services.model_version_active()
        if version is None:
            self.message_user(request, "No model version is active.", messages.ERROR)
            return
        for prediction in queryset.select_related("image", "image__lesion"):
            services.prediction_rerun(user=request.user, image=prediction.image, model_version=version)
        self.message_user(request, f"Queued {queryset.count()} image(s) for {version}.")


@admin.register(BatchJob)
class BatchJobAdmin(ClinicScopedAdmin):
    list_display = ["id", "name", "clinic", "status", "total", "model_version", "created_at", "finished_at"]
    list_filter = ["status"]
    search_fields = ["name"]
    list_select_related = ["clinic", "model_version"]
    readonly_fields = ["clinic", "created_by", "model_version", "total", "created_at", "finished_at"]
