# The real-worker fixtures, shared with the classifier's integration tests.
from classifier.tests.conftest import broker_url, tiny_model, worker_env  # noqa: F401
