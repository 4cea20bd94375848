"""The ISIC vocabularies (SIIM-ISIC 2020 `anatom_site_general_challenge` and `diagnosis`)."""

from django.db import models


class AnatomicSite(models.TextChoices):
    HEAD_NECK = "head/neck", "Head/neck"
    UPPER_EXTREMITY = "upper extremity", "Upper extremity"
    LOWER_EXTREMITY = "lower extremity", "Lower extremity"
    TORSO = "torso", "Torso"
    PALMS_SOLES = "palms/soles", "Palms/soles"
    ORAL_GENITAL = "oral/genital", "Oral/genital"
    UNKNOWN = "unknown", "Unknown"


class Diagnosis(models.TextChoices):
    MELANOMA = "melanoma", "Melanoma"
    NEVUS = "nevus", "Nevus"
    SEBORRHEIC_KERATOSIS = "seborrheic keratosis", "Seborrheic keratosis"
    PIGMENTED_BENIGN_KERATOSIS = "pigmented benign keratosis", "Pigmented benign keratosis"
    LENTIGO_NOS = "lentigo NOS", "Lentigo NOS"
    LICHENOID_KERATOSIS = "lichenoid keratosis", "Lichenoid keratosis"
    SOLAR_LENTIGO = "solar lentigo", "Solar lentigo"
    CAFE_AU_LAIT = "cafe-au-lait macule", "Café-au-lait macule"
    ATYPICAL_MELANOCYTIC = "atypical melanocytic proliferation", "Atypical melanocytic proliferation"
    BASAL_CELL_CARCINOMA = "basal cell carcinoma", "Basal cell carcinoma"
    SQUAMOUS_CELL_CARCINOMA = "squamous cell carcinoma", "Squamous cell carcinoma"
    ACTINIC_KERATOSIS = "actinic keratosis", "Actinic keratosis"
    DERMATOFIBROMA = "dermatofibroma", "Dermatofibroma"
    VASCULAR_LESION = "vascular lesion", "Vascular lesion"
    UNKNOWN = "unknown", "Unknown"


class BenignMalignant(models.TextChoices):
    BENIGN = "benign", "Benign"
    MALIGNANT = "malignant", "Malignant"


class Sex(models.TextChoices):
    FEMALE = "female", "Female"
    MALE = "male", "Male"
    OTHER = "other", "Other"
    UNKNOWN = "unknown", "Unknown"


class ImageKind(models.TextChoices):
    DERMOSCOPIC = "dermoscopic", "Dermoscopic"
    CLINICAL = "clinical", "Clinical"


class UploadImageType(models.TextChoices):
    """The only image types an upload may be (sniffed from the bytes, portal/records/validation.py). The
    OpenAPI schema carries them as `UploadImageTypeEnum`, from which the SPA's file pickers take their
    `accept`, so that a picker can never offer a type the server refuses."""

    JPEG = "image/jpeg", "JPEG"
    PNG = "image/png", "PNG"
