import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


@pytest.fixture
def run_cfg():
    """Build a validated config from YAML text and run it: run_cfg(yaml, *overrides)."""
    from mc.config import load_config_text
    from mc.run import simulate

    def _run(text, *overrides):
        cfg, _ = load_config_text(text, list(overrides))
        return simulate(cfg)

    return _run


def pytest_addoption(parser):
    parser.addoption("--update-answers", action="store_true", default=False,
                     help="rewrite the stored answers of tests/test_regression.py (after a deliberate change of "
                          "results)")
