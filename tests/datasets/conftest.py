"""Shared by the dataset tests: the ``annotations`` folder of the real-data bundle."""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def annotations(real_data) -> Path:
    return real_data / "annotations"
