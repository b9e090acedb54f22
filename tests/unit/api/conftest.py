"""The API suite runs once per vector store: FAISS in the process and Milvus (Lite)."""

from __future__ import annotations

from tests.lanes import store_fixtures

backend_settings, server_env, seed_index, service = store_fixtures()
