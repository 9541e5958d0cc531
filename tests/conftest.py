"""Shared fixtures: small phantoms generated once per test session (no downloads)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from liver3d.phantoms.dataset import write_phantom_dataset

SMALL_SHAPE = (64, 64, 32)
REAL_CT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real_ct"


@pytest.fixture(autouse=True)
def _restore_root_logging():
    """A bundle run applies the bundle's logging.conf, whose handler writes to the stdout pytest captured for that
    test and closes afterwards; a later test that logs would print "--- Logging error ---" into its own stderr.
    Each test leaves the root logger's handlers and level as it found them."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session")
def phantom_dir(tmp_path_factory) -> Path:
    """Four small phantoms (seed 3), at least one with tumors; read-only for the tests that use it."""
    out = tmp_path_factory.mktemp("phantoms")
    write_phantom_dataset(out, cases=4, seed=3, shape=SMALL_SHAPE)
    return out


@pytest.fixture(scope="session")
def phantom_datalist(phantom_dir) -> Path:
    return phantom_dir / "dataset.json"


@pytest.fixture
def real_ct() -> Path:
    if not REAL_CT.is_dir():
        pytest.skip(f"real CT examples not found at {REAL_CT}")
    return REAL_CT


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item (``item.rep_call``), so fixtures can act on a failure."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
