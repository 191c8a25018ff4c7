"""The dbt project, defined once (the target of `dagster-dbt project prepare-and-package`)."""

import os
import shutil
import sys
from pathlib import Path

from dagster_dbt import DbtProject

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# `dagster dev` started without the venv on PATH (`.venv/bin/dagster dev ...`) must still find this venv's
# dbt: dagster-dbt's dev-time `dbt parse` looks the executable up on PATH.
if shutil.which("dbt") is None:
    os.environ["PATH"] = os.pathsep.join(
        [str(Path(sys.executable).parent), os.environ.get("PATH", "")]
    )
dbt_project.prepare_if_dev()  # `dbt parse` under `dagster dev` only
