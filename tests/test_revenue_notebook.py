"""The revenue overview notebook (notebooks/revenue_overview.ipynb), done as the pricing notebook is.

- the committed notebook is rendered and clean: outputs and figures saved, the `parameters` cell still holds
  the default ``data_dir = "../data"``, no papermill-injected cell, no volatile execution metadata, and it
  reads the read-only snapshot only;
- it runs headless with papermill on the read-only copy of the session's scenarios warehouse, its summary
  table equals the KPIs worked out by hand in tests/test_revenue_report.py, and its top movements are the
  hand-known ones of the fixture.

Re-render the committed notebook (after ``meterhouse generate`` + ``meterhouse run`` on DIR)::

    .venv/bin/python -m tests.test_revenue_notebook render DIR
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from tests import test_pricing_notebook as pricing_notebook
from tests.test_pricing_notebook import (
    DEFAULT_PARAMETERS,
    MAX_BYTES,
    displayed_table,
    errors,
    outputs,
    parameters_cell,
    text_of,
)

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
NOTEBOOK = NOTEBOOKS / "revenue_overview.ipynb"


def execute(data_dir: Path, output: Path) -> dict:
    return pricing_notebook.execute(data_dir, output, NOTEBOOK)


def render(data_dir: Path) -> None:
    pricing_notebook.render(data_dir, NOTEBOOK)


def test_committed_notebook_is_rendered_and_clean():
    raw = NOTEBOOK.read_bytes()
    assert len(raw) < MAX_BYTES, f"{NOTEBOOK.name} is {len(raw)} bytes"
    nb = json.loads(raw)
    assert "".join(parameters_cell(nb)["source"]).strip().startswith(DEFAULT_PARAMETERS)
    assert not any("injected-parameters" in c["metadata"].get("tags", []) for c in nb["cells"])
    assert "papermill" not in nb["metadata"]
    for cell in nb["cells"]:
        assert not {"papermill", "execution"} & set(cell["metadata"]), cell["metadata"]
    assert not errors(nb)
    images = [o for o in outputs(nb) if "image/png" in o.get("data", {})]
    assert len(images) >= 3, "MRR over time, the waterfall and the cohort heatmaps, rendered"
    assert len(displayed_table(nb, "summary")) >= 6, "rendered on a data set of several months"
    assert "Top expansions" in text_of(nb) and "Top contractions" in text_of(nb)
    source = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "warehouse.read.duckdb" in source
    assert not re.search(r"(?<!read\.)warehouse\.duckdb", source)
    assert "read_only=True" in source


@pytest.fixture(scope="module")
def warehouse_dir(scenarios_dir, tmp_path_factory) -> Path:
    """The read-only snapshot of the session's hand-computed scenarios warehouse, in a folder of its own."""
    data_dir = tmp_path_factory.mktemp("revenue_nb_data")
    shutil.copy(scenarios_dir / "warehouse.read.duckdb", data_dir / "warehouse.read.duckdb")
    return data_dir


@pytest.mark.slow
def test_notebook_runs_and_shows_the_hand_computed_months(warehouse_dir, tmp_path):
    nb = execute(warehouse_dir, tmp_path / "revenue_overview.ipynb")
    assert not errors(nb)
    # by hand (tests/test_revenue_report.py): August 800.54 = committed 800.00 + usage 0.54, 4 customers, all
    # new business; September 1730.4036 -> 1730.40 (committed 1655.15, usage 75.2536 -> 75.25), 12 customers,
    # + 929.8636 -> 929.86; October: the drafts so far, shown but not final
    summary = {row["month"]: row for row in displayed_table(nb, "summary")}
    assert summary["2026-08"] == {
        "month": "2026-08",
        "final": "yes",
        "customers": "4",
        "mrr": "800.54",
        "committed": "800.00",
        "usage": "0.54",
        "net_change": "800.54",
    }
    assert summary["2026-09"] == {
        "month": "2026-09",
        "final": "no",
        "customers": "12",
        "mrr": "1730.40",
        "committed": "1655.15",
        "usage": "75.25",
        "net_change": "929.86",
    }
    assert summary["2026-10"]["final"] == "no"
    images = [o for o in outputs(nb) if "image/png" in o.get("data", {})]
    assert len(images) == 3, "MRR over time, the waterfall, the cohort heatmaps"
    text = text_of(nb)
    # the largest expansion: cus_upgrade's upgrade on Sep 11, 100.05 -> 300.00 (+199.95); the largest
    # contraction: cus_downgrade's downgrade taking effect Oct 1, pro 300.00 -> basic 100.00 (-200.00)
    tops = [
        o
        for o in outputs(nb, "top_movements")
        if "text/plain" in o.get("data", {}) and "text/markdown" not in o["data"]
    ]
    expansions, contractions = ("".join(o["data"]["text/plain"]) for o in tops)
    first_expansion = expansions.splitlines()[1].split()
    first_contraction = contractions.splitlines()[1].split()
    assert first_expansion[1:2] == ["cus_upgrade"] and "199.95" in first_expansion
    assert first_contraction[1:2] == ["cus_downgrade"] and "-200.00" in first_contraction
    assert "Top expansions" in text and "Top contractions" in text


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "render":
        sys.exit("usage: python -m tests.test_revenue_notebook render DATA_DIR")
    render(Path(sys.argv[2]))
    print(f"rendered {NOTEBOOK.relative_to(REPO)} ({NOTEBOOK.stat().st_size} bytes)")
