"""The pricing experiments notebook (notebooks/pricing_experiments.ipynb).

- the committed notebook is rendered and clean: outputs saved, the `parameters` cell still holds the
  default ``data_dir = "../data"``, no papermill-injected cell, no volatile execution metadata;
- it runs headless with papermill on the read-only copy of the session's scenarios warehouse (one pricing
  scenario, USD and JPY customers; built once for the whole suite), and its summary table equals a SQL
  sum over pricing.rpt_pricing_scenarios;
- it runs, and says so, on a warehouse without scenarios.

Re-render the committed notebook (after ``meterhouse generate`` + ``meterhouse run`` on DIR)::

    .venv/bin/python -m tests.test_pricing_notebook render DIR

The kernel: papermill starts the ``python3`` kernel spec, which the venv holds in
``.venv/share/jupyter/kernels/python3`` (ipykernel's spec, ``argv[0] = "python"``, which jupyter_client
replaces with the running interpreter, so the kernel is the venv's Python).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from fractions import Fraction
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
NOTEBOOK = NOTEBOOKS / "pricing_experiments.ipynb"
KERNEL = "python3"
DEFAULT_PARAMETERS = 'data_dir = "../data"'
MAX_BYTES = 1_500_000


# --- helpers (also used to render the committed notebook) -------------------------------------------


def execute(data_dir: Path, output: Path, notebook: Path = NOTEBOOK) -> dict:
    """Run the notebook headless on data_dir with papermill; return the executed notebook (a dict).
    The revenue notebook's test runs its notebook through this too."""
    import papermill as pm
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    assert KERNEL in specs, (
        f"no {KERNEL!r} Jupyter kernel spec (found {sorted(specs)}): "
        f"`{sys.executable} -m ipykernel install --sys-prefix` registers it in the venv"
    )
    pm.execute_notebook(
        str(notebook),
        str(output),
        parameters={"data_dir": str(data_dir)},
        kernel_name=KERNEL,
        cwd=str(NOTEBOOKS),
        progress_bar=False,
    )
    return json.loads(output.read_text())


def clean(nb: dict) -> dict:
    """What is committed: no injected-parameters cell, no timings or paths, execution counts 1..n."""
    nb["cells"] = [
        c for c in nb["cells"] if "injected-parameters" not in c["metadata"].get("tags", [])
    ]
    nb["metadata"].pop("papermill", None)
    count = 0
    for cell in nb["cells"]:
        cell["metadata"].pop("papermill", None)
        cell["metadata"].pop("execution", None)
        if cell["cell_type"] != "code":
            continue
        if cell.get("execution_count") is not None:
            count += 1
            cell["execution_count"] = count
            for output in cell["outputs"]:
                if output["output_type"] == "execute_result":
                    output["execution_count"] = count
    return nb


def render(data_dir: Path, notebook: Path = NOTEBOOK) -> None:
    """Execute the notebook on data_dir and save it, outputs included, in place of the committed one."""
    import tempfile

    import nbformat

    with tempfile.TemporaryDirectory() as tmp:
        nb = clean(execute(Path(data_dir).resolve(), Path(tmp) / "out.ipynb", notebook))
    node = nbformat.from_dict(nb)
    nbformat.validate(node)
    notebook.write_text(nbformat.writes(node) + "\n")


def outputs(nb: dict, tag: str | None = None) -> list[dict]:
    return [
        o
        for c in nb["cells"]
        if c["cell_type"] == "code" and (tag is None or tag in c["metadata"].get("tags", []))
        for o in c.get("outputs", [])
    ]


def text_of(nb: dict) -> str:
    """Every text an output shows (streams, plain text, markdown, html)."""
    parts = []
    for o in outputs(nb):
        if o["output_type"] == "stream":
            parts.append("".join(o["text"]))
        for mime in ("text/plain", "text/markdown", "text/html"):
            if mime in o.get("data", {}):
                parts.append("".join(o["data"][mime]))
    return "\n".join(parts)


def errors(nb: dict) -> list[str]:
    return [f"{o['ename']}: {o['evalue']}" for o in outputs(nb) if o["output_type"] == "error"]


def parameters_cell(nb: dict) -> dict:
    cells = [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])]
    assert len(cells) == 1, "exactly one cell tagged `parameters`"
    return cells[0]


def displayed_table(nb: dict, tag: str) -> list[dict]:
    """The DataFrame a tagged cell display()s, read back from its text/plain rendering."""
    plain = [
        "".join(o["data"]["text/plain"])
        for o in outputs(nb, tag)
        if "text/plain" in o.get("data", {})
    ]
    assert plain, f"the `{tag}` cell displays a table"
    lines = [line for line in plain[0].splitlines() if line.strip()]
    header = lines[0].split()
    rows = []
    for line in lines[1:]:
        tokens = line.split()
        assert len(tokens) == len(header) + 1, f"unexpected row in the `{tag}` table: {line!r}"
        rows.append(dict(zip(header, tokens[1:], strict=True)))  # tokens[0] is the index
    return rows


def major_text(minor: int, exponent: int) -> str:
    """Integer minor units as the exact major-unit text, e.g. -594065, 2 -> '-5940.65'."""
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**exponent)
    return f"{sign}{whole}" + (f".{frac:0{exponent}d}" if exponent else "")


def pct_text(change: int, base: int) -> str:
    if base == 0:
        return "None"
    hundredths = round(Fraction(change * 10_000, base))  # hundredths of a percent, half-even
    return major_text(hundredths, 2)


# --- the committed notebook --------------------------------------------------------------------------


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
    assert any("image/png" in o.get("data", {}) for o in outputs(nb)), "rendered with its figures"
    assert displayed_table(nb, "summary"), "rendered with its summary table"
    # reads the read-only snapshot only, never the writer's warehouse.duckdb
    source = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "warehouse.read.duckdb" in source
    assert not re.search(r"(?<!read\.)warehouse\.duckdb", source)
    assert "read_only=True" in source


# --- executed on a fresh warehouse -------------------------------------------------------------------


@pytest.fixture(scope="module")
def warehouse_dir(scenarios_dir, tmp_path_factory) -> Path:
    """The read-only snapshot of the session's hand-computed scenarios warehouse (it has a pricing
    scenario, USD and JPY customers) in a folder of its own: the notebook needs nothing else."""
    data_dir = tmp_path_factory.mktemp("nb_data")
    shutil.copy(scenarios_dir / "warehouse.read.duckdb", data_dir / "warehouse.read.duckdb")
    return data_dir


def snapshot_sql(data_dir: Path, query: str) -> list[tuple]:
    import duckdb

    con = duckdb.connect(str(data_dir / "warehouse.read.duckdb"), read_only=True)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


@pytest.mark.slow
def test_notebook_runs_and_its_summary_matches_the_warehouse(warehouse_dir, tmp_path):
    nb = execute(warehouse_dir, tmp_path / "pricing_experiments.ipynb")
    assert not errors(nb)

    text = text_of(nb)
    scenarios = snapshot_sql(
        warehouse_dir, "select scenario, description from raw.scenarios order by 1"
    )
    assert [s for s, _ in scenarios] == ["candidate"]
    for scenario, description in scenarios:
        assert scenario in text
        assert description[:40] in text
    images = [o for o in outputs(nb) if "image/png" in o.get("data", {})]
    assert len(images) >= 4, "revenue, per plan, per month and distribution figures"
    assert "Bills going down the most" in text and "Bills going up the most" in text

    # the summary table, cell by cell, against an independent SQL sum per scenario and currency
    expected = {
        (scenario, currency): {
            "customer_months": str(n),
            "live": major_text(live, exponent),
            "with_scenario": major_text(amount, exponent),
            "change": major_text(change, exponent),
            "change_pct": pct_text(change, live),
        }
        for scenario, currency, exponent, n, live, amount, change in snapshot_sql(
            warehouse_dir,
            """select r.scenario, r.currency, c.minor_unit_exponent, count(*),
                      sum(r.live_amount_cents), sum(r.amount_cents), sum(r.change_cents)
               from pricing.rpt_pricing_scenarios as r
               join reference.currencies as c using (currency)
               group by all""",
        )
    }
    assert len(expected) >= 2  # the scenario in USD and in JPY
    summary = displayed_table(nb, "summary")
    got = {(row.pop("scenario"), row.pop("currency")): row for row in summary}
    assert got == expected
    # amounts are not summed across currencies: one row per (scenario, currency), JPY without decimals
    jpy = [row for (_, currency), row in got.items() if currency == "JPY"]
    assert all("." not in row["live"] for row in jpy)


@pytest.mark.slow
def test_notebook_without_scenarios_says_so(warehouse_dir, tmp_path):
    import duckdb

    data_dir = tmp_path / "no_scenarios"
    data_dir.mkdir()
    shutil.copy(warehouse_dir / "warehouse.read.duckdb", data_dir / "warehouse.read.duckdb")
    con = duckdb.connect(str(data_dir / "warehouse.read.duckdb"))
    try:
        con.execute("delete from raw.scenarios")
        con.execute("delete from pricing.rpt_pricing_scenarios")
    finally:
        con.close()

    nb = execute(data_dir, tmp_path / "out.ipynb")
    assert not errors(nb)
    text = text_of(nb)
    assert "no pricing scenarios" in text
    assert not any("image/png" in o.get("data", {}) for o in outputs(nb))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "render":
        sys.exit("usage: python -m tests.test_pricing_notebook render DATA_DIR")
    render(Path(sys.argv[2]))
    print(f"rendered {NOTEBOOK.relative_to(REPO)} ({NOTEBOOK.stat().st_size} bytes)")
