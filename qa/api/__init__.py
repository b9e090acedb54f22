"""HTTP API: ``create_app`` builds the FastAPI application."""

from qa.api.main import create_app

__all__ = ["create_app"]
