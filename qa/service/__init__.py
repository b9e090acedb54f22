"""Step 10: the service — the one boundary the API, the command line and the evaluation
call (:mod:`service`), the models it owns (:mod:`models`), starting it for serving
(:mod:`startup`), and the limits of one request (:mod:`limits`)."""

from qa.service.models import Models, one_search_thread
from qa.service.service import Health, QAService
from qa.service.startup import start_service

__all__ = ["Health", "Models", "QAService", "one_search_thread", "start_service"]
