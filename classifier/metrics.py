"""The job figures Prometheus scrapes (portal/core/metrics.py serves them), computed from the database
when it is scraped. The database is the source of truth and the worker is another process (often
another machine), so a figure counted in the worker's memory would need a shared store; a query
answers the same from every web process. Labels are statuses only: nothing names a patient or a clinic."""

from datetime import timedelta

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

from classifier.models import BatchJob, BatchRejectedFile, Prediction

# Seconds from upload to result: a warm CPU worker answers in a few seconds, a batch behind a long
# queue in minutes to hours.
UPLOAD_TO_RESULT_BUCKETS = (1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600)


def _statuses(model, field: str = "status") -> dict[str, int]:
    counts = {value: 0 for value in model.Status.values}
    counts.update(dict(model.objects.values_list(field).annotate(n=Count("pk")).order_by()))
    return counts


class JobCollector:
    """Predictions and batches by status, rejected batch files, and the upload-to-result histogram."""

    def collect(self):
        predictions = GaugeMetricFamily(
            "naevus_predictions", "Predictions (one job per image and model version) by status.", labels=["status"]
        )
        for status, n in _statuses(Prediction).items():
            predictions.add_metric([status], n)
        yield predictions

        batches = GaugeMetricFamily("naevus_batches", "Batch jobs by status.", labels=["status"])
        for status, n in _statuses(BatchJob).items():
            batches.add_metric([status], n)
        yield batches

        rejected = GaugeMetricFamily(
            "naevus_batch_rejected_files", "Files of batches that never became an image (not an image, corrupt…)."
        )
        rejected.add_metric([], BatchRejectedFile.objects.count())
        yield rejected

        # From the prediction's creation (the upload committed it) to its result; a re-run keeps its
        # creation time, so it counts the whole wait. Cumulative buckets in one query.
        took = ExpressionWrapper(F("finished_at") - F("created_at"), output_field=DurationField())
        done = Prediction.objects.filter(status=Prediction.Status.DONE, finished_at__isnull=False).annotate(took=took)
        within = {
            f"le_{i}": Count("pk", filter=Q(took__lte=timedelta(seconds=b)))
            for i, b in enumerate(UPLOAD_TO_RESULT_BUCKETS)
        }
        figures = done.aggregate(total=Count("pk"), seconds=Sum("took"), **within)
        buckets = [(str(float(b)), figures[f"le_{i}"]) for i, b in enumerate(UPLOAD_TO_RESULT_BUCKETS)]
        buckets.append(("+Inf", figures["total"]))
        total_seconds = figures["seconds"].total_seconds() if figures["seconds"] else 0.0
        yield HistogramMetricFamily(
            "naevus_prediction_upload_to_result_seconds",
            "Seconds from upload to result of done predictions (from the database at scrape time).",
            buckets=buckets,
            sum_value=total_seconds,
        )
