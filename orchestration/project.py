"""The dbt project, defined once (the target of `dagster-dbt project prepare-and-package`)."""

import os
import shutil
import sys
from pathlib import Path

from dagster_dbt import DbtProject

# MH_DBT_PROJECT_DIR points at a copy of the project elsewhere: the test suite gives each parallel worker its
# own, so their parses and target folders never collide. Unset: the repo's dbt_project/.
DBT_PROJECT_DIR = Path(
    os.environ.get("MH_DBT_PROJECT_DIR") or Path(__file__).resolve().parent.parent / "dbt_project"
).resolve()

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# `dagster dev` started without the venv on PATH (`.venv/bin/dagster dev ...`) must still find this venv's
# dbt: dagster-dbt's dev-time `dbt parse` looks the executable up on PATH.
if shutil.which("dbt") is None:
    os.environ["PATH"] = os.pathsep.join(
        [str(Path(sys.executable).parent), os.environ.get("PATH", "")]
    )
dbt_project.prepare_if_dev()  # `dbt parse` under `dagster dev` only
