import json
import logging
from datetime import UTC, datetime

from . import context


class JsonFormatter(logging.Formatter):
    """One JSON object per line. Messages carry ids and statuses only (never names, tokens or bytes)."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = context.current().request_id
        if request_id:
            payload["request_id"] = request_id
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload)
