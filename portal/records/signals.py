"""What records announce to the apps built on them, which connect in their AppConfig.ready(): records
import none of them (pyproject.toml's import-linter contract)."""

from django.dispatch import Signal

# Sent by services.lesion_images_upload inside its transaction, with `user` and `images` (the LesionImage
# rows just stored and audited). Sent with send(), not send_robust(): a receiver that raises refuses the
# whole upload (the transaction rolls back and the stored files are removed), as a direct call would.
images_uploaded = Signal()
