"""What triage tells the apps built on it, after the commit (see classifier.signals)."""

from django.dispatch import Signal

# A review was signed: a first, second or consensus read, or an amendment. kwargs: review_id.
review_signed = Signal()
