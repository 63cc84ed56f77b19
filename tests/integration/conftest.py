"""Every integration module runs the simulated host without the demo's pauses (see
``instant_simulation`` in tests/conftest.py)."""
import pytest


@pytest.fixture(scope="module", autouse=True)
def _instant_simulation(instant_simulation):
    return instant_simulation
