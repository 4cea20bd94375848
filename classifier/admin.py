from django.contrib import admin, messages

from portal.records.admin import ClinicScopedAdmin, SuperuserOnlyAdmin

from . import services
from .models import BatchJob, ModelVersion, Prediction


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
    actions = ["activate"]

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
