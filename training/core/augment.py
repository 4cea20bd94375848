"""Training-time augmentation on uint8 HWC images; normalisation stays in the shared Preprocess.

Dermoscopy has no canonical orientation, so every dihedral flip is label-preserving. Colour and
contrast jitter stand in for the spread between clinics' dermatoscopes and lighting.
"""

from __future__ import annotations

import albumentations as A  # noqa: N812 (the library's own convention)
import cv2


def train_augment(img_size: int, strength: str) -> A.Compose:
    if strength == "none":
        return A.Compose([A.CenterCrop(img_size, img_size)])
    if strength == "light":
        return A.Compose(
            [
                A.RandomResizedCrop(size=(img_size, img_size), scale=(0.7, 1.0)),
                A.HorizontalFlip(),
                A.VerticalFlip(),
                A.Transpose(),
            ]
        )
    if strength == "strong":
        return A.Compose(
            [
                A.RandomResizedCrop(size=(img_size, img_size), scale=(0.4, 1.0)),
                A.HorizontalFlip(),
                A.VerticalFlip(),
                A.Transpose(),
                A.Affine(
                    translate_percent=(-0.1, 0.1),
                    scale=(0.85, 1.15),
                    rotate=(-45, 45),
                    border_mode=cv2.BORDER_REFLECT_101,
                    p=0.7,
                ),
                A.RandomBrightnessContrast(brightness_limit=0.25, contrast_limit=0.25, p=0.8),
                A.HueSaturationValue(hue_shift_limit=15, sat_shift_limit=30, val_shift_limit=15, p=0.6),
                A.RandomGamma(gamma_limit=(80, 120), p=0.3),
                A.OneOf([A.GaussianBlur(blur_limit=(3, 5)), A.MotionBlur(blur_limit=5), A.GaussNoise()], p=0.3),
                A.CoarseDropout(
                    num_holes_range=(1, 4), hole_height_range=(0.05, 0.15), hole_width_range=(0.05, 0.15), p=0.4
                ),
            ]
        )
    raise ValueError(f"unknown augmentation strength {strength!r}")
