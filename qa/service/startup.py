"""Starting a service that serves: models loaded and warmed before the first request, the
collection opened (a missing one is reported by :meth:`QAService.health`, not raised),
and, for an index folder, a watch that takes what other processes commit."""

from __future__ import annotations

import logging

from qa.collection import Follower, replica_mode
from qa.core.config import Settings
from qa.core.errors import QAError
from qa.embed import Embedder
from qa.service.models import one_search_thread
from qa.service.service import QAService

log = logging.getLogger(__name__)


def start_service(settings: Settings, embedder: Embedder | None = None) -> QAService:
    """A service ready to serve: the model loaded, the collection opened, the translator
    and the search warmed by one question, and the follower started (see the module
    docstring)."""
    one_search_thread()
    service = QAService(settings, embedder)
    service.serving = True
    service.models.embedder  # noqa: B018  # loaded now, not by the first request
    service.models.batch_queries()
    try:
        service.collection = service.open_collection(writable=True)
    except QAError as exc:
        service.index_error = str(exc)
        log.warning("%s", exc)
    if service.models.translator is not None:
        service.models.translator.warm_up()
    if service.health().documents:
        service.ask("What is this collection about?", 1)
    if settings.follow_interval > 0 and not replica_mode(settings):
        service.follower = Follower(
            settings.index_dir, service.catch_up, settings.follow_interval
        ).start()
    return service
