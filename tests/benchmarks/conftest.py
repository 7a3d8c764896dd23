from pathlib import Path

import pytest

from avlib.datasets import real_data_root


@pytest.fixture(scope="session")
def real_data() -> Path:
    root = real_data_root()
    if not (root / "SOURCES.md").is_file():
        pytest.skip(f"real-data bundle not found at {root} (set AVLIB_REAL_DATA); real-data benchmark tests skipped")
    return root
