"""Every dbt unit test (the hand-computed cases in the models' yml files), in one dbt call.

Pipeline builds skip unit tests (they check the SQL on fixed inputs, not the data; dbt recommends keeping them
out of production runs), so this is where they run. dbt types each given row from the upstream relations, so
they run on a copy of the scenarios warehouse, where every model exists.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest

from .conftest import DBT_DIR, run_dbt

pytestmark = pytest.mark.slow


def test_every_dbt_unit_test_passes(scenarios_dir, tmp_path):
    db = tmp_path / "unit_tests.duckdb"
    shutil.copy(scenarios_dir / "warehouse.duckdb", db)
    proc = run_dbt(
        ["test", "--select", "test_type:unit"], db
    )  # raises with dbt's output on a failure

    manifest = json.loads((DBT_DIR / "target" / "manifest.json").read_text())
    expected = len(manifest["unit_tests"])
    assert expected >= 30  # every model's hand-computed cases, not a handful
    done = re.findall(r"Done\. PASS=(\d+) WARN=(\d+) ERROR=(\d+) SKIP=(\d+)", proc.stdout)
    assert done, proc.stdout[-3000:]
    assert tuple(map(int, done[-1])) == (expected, 0, 0, 0), proc.stdout[-3000:]
