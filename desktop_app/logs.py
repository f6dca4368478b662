"""Logging for the app's own process: a rotating file always, the console when there is one.

A windowed build has no console (`sys.stderr` is None), so the file is where a user or a
bug report finds what happened.
"""

from __future__ import annotations

import logging
import re
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

LOG_FILE = "task-dashboard.log"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# uvicorn logs each WebSocket URL with its query, and scripts may put the token there.
SECRETS = re.compile(r"([?&]token=|[Bb]earer\s+)[^&\s\"']+")


class RedactingFormatter(logging.Formatter):
    """Blanks tokens in whole lines: message, arguments and tracebacks alike."""

    def format(self, record: logging.LogRecord) -> str:
        return SECRETS.sub(r"\1[redacted]", super().format(record))


def setup_logging(log_dir: Path, level: int = logging.INFO) -> Path:
    path = log_dir / LOG_FILE
    handlers: list[logging.Handler] = []
    problem = None
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(
            RotatingFileHandler(path, maxBytes=1_000_000, backupCount=3, encoding="utf-8")
        )
    except OSError as exc:
        # A read-only or full disk must not stop the app before it can say what is wrong.
        problem = exc
    if sys.stderr is not None:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(RedactingFormatter(FORMAT))
    logging.basicConfig(level=level, handlers=handlers, force=True)
    if problem is not None:
        logging.getLogger(__name__).warning(
            "cannot write the log file %s (%s); logging to the console only", path, problem
        )
    return path
