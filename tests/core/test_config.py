"""Every setting is documented in the README with its real default."""

from __future__ import annotations

import re
from pathlib import Path

from qa.core.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_in_the_readme_table_with_its_default():
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\| `(QA_[A-Z_]+)` \| ([^|]*) \|", README.read_text(), re.M)
    }
    for name, field in Settings.model_fields.items():
        key = f"QA_{name.upper()}"
        assert key in rows, f"{key} is not in the README's settings table"
        default = field.default
        if isinstance(default, (int, float, str)) and not isinstance(default, bool):
            shown = rows[key].strip().strip("`").replace(",", "")
            assert shown == str(default), f"{key}: README says {rows[key]!r}, default {default!r}"
