"""Settings are documented where a reader looks, with their real defaults."""

from __future__ import annotations

import re

import pytest

from qa.core.config import Settings, settings_reference, shown_default
from tests.helpers import REPO


def test_the_settings_reference_is_generated_from_settings():
    reference = (REPO / "docs" / "settings.md").read_text(encoding="utf-8")
    assert reference == settings_reference(), (
        "docs/settings.md is stale: python -m qa.core.config > docs/settings.md"
    )
    for name in Settings.model_fields:
        assert f"`QA_{name.upper()}`" in reference


def test_the_readme_shows_real_defaults():
    rows = re.findall(r"^\| `QA_([A-Z_]+)` \| `([^`]*)` \|", (REPO / "README.md").read_text(), re.M)
    assert len(rows) >= 5, "the README's settings table"
    for name, default in rows:
        assert name.lower() in Settings.model_fields, f"QA_{name} is not a setting"
        assert default == shown_default(name.lower()), f"QA_{name}: README says {default!r}"


def test_settings_are_validated_with_a_message_that_names_the_problem():
    with pytest.raises(ValueError, match=r"chunk_overlap \(700\) must be smaller"):
        Settings(chunk_size=700, chunk_overlap=700)
