"""Heatmaps without PNG work in the worker (issue #16 item 2): the worker stores the CAM itself, a few
dozen bytes at the feature map's resolution (`cam_pack`); the overlay PNG is rendered where it is looked at,
on its first request, from the stored image and the version's own preprocessing, and kept as the
prediction's `heatmap` file for every later request. It looks as the worker's PNG did: same crop, same
colour map, the CAM quantised to 8 bits (at most 1/255 of the scale)."""

from __future__ import annotations

import base64
import hashlib
import logging

import numpy as np
from django.core.files.base import ContentFile

from portal.records.jpeg import with_orientation

from .inference.heatmap import cam_to_overlay_png, normalize_cam
from .inference.preprocessing import Preprocess
from .models import Prediction

logger = logging.getLogger(__name__)


def cam_pack(cam: np.ndarray) -> dict:
    heat = np.rint(normalize_cam(np.asarray(cam)) * 255.0).astype(np.uint8)
    return {"shape": list(heat.shape), "u8": base64.b64encode(heat.tobytes()).decode()}


def cam_unpack(packed: dict) -> np.ndarray:
    h, w = (int(n) for n in packed["shape"])
    return np.frombuffer(base64.b64decode(packed["u8"]), dtype=np.uint8).reshape(h, w).astype(np.float32) / 255.0


def heatmap_available(prediction: Prediction) -> bool:
    return bool(prediction.heatmap) or bool(prediction.cam)


def heatmap_file(prediction: Prediction):
    """The overlay PNG's file, rendered now if this is its first request. None: this prediction has none."""
    if prediction.heatmap:
        return prediction.heatmap
    if not prediction.cam:
        return None
    with prediction.image.file.open("rb") as fh:
        source = with_orientation(fh.read(), prediction.image.orientation)
    preprocess = Preprocess.from_dict(prediction.model_version.preprocess)
    crop = preprocess.geometry(preprocess.open(source))
    png = cam_to_overlay_png(crop, cam_unpack(prediction.cam))
    name = prediction.heatmap.storage.save(
        f"heatmaps/{prediction.image.clinic_id}/{prediction.pk}-{hashlib.sha256(png).hexdigest()[:16]}.png",
        ContentFile(png),
    )
    # Two first requests at once: one file is kept, the other removed.
    if Prediction.objects.filter(pk=prediction.pk, heatmap="").update(heatmap=name):
        prediction.heatmap.name = name
        logger.info("heatmap of prediction %s rendered", prediction.pk)
    else:
        prediction.heatmap.storage.delete(name)
        prediction.refresh_from_db(fields=["heatmap"])
    return prediction.heatmap
