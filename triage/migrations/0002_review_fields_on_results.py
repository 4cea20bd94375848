"""Stores each reviewed result's state and follow-up date, and each lesion's pending biopsy, from the reads
recorded before the worklist read them from these columns (triage/reviews.py keeps them from now on)."""

from django.db import migrations

from triage.reviews import follow_up_due_on, state_of

BIOPSY = ("excise", "urgent_referral")


def forwards(apps, schema_editor):
    Review = apps.get_model("triage", "Review")
    Prediction = apps.get_model("classifier", "Prediction")
    Lesion = apps.get_model("records", "Lesion")
    Outcome = apps.get_model("records", "Outcome")
    signed = list(Review.objects.filter(signed_at__isnull=False).select_related("prediction__image"))
    superseded = {r.supersedes_id for r in signed if r.supersedes_id}
    reads: dict[int, list] = {}
    for review in signed:
        if review.pk not in superseded:
            reads.setdefault(review.prediction_id, []).append(review)
    rows = list(Prediction.objects.filter(pk__in=list(reads)))
    for row in rows:
        row.review_state, row.follow_up_due_on = state_of(reads[row.pk]), follow_up_due_on(reads[row.pk])
    Prediction.objects.bulk_update(rows, ["review_state", "follow_up_due_on"], batch_size=1000)
    latest: dict[int, object] = {}
    for review in signed:
        lesion = review.prediction.image.lesion_id
        if lesion is not None and (
            lesion not in latest or (review.signed_at, review.pk) > (latest[lesion].signed_at, latest[lesion].pk)
        ):
            latest[lesion] = review
    pending = [
        lesion
        for lesion, review in latest.items()
        if review.management in BIOPSY
        and not Outcome.objects.filter(lesion_id=lesion, created_at__gte=review.signed_at).exists()
    ]
    Lesion.objects.filter(pk__in=pending).update(biopsy_pending=True)
    Prediction.objects.filter(lesion_latest=True, image__lesion_id__in=pending).update(biopsy_pending=True)


class Migration(migrations.Migration):
    dependencies = [
        ("triage", "0001_initial"),
        ("classifier", "0010_prediction_review_state"),
        ("records", "0003_lesion_biopsy_pending"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
