"""Split the output of `meterhouse run` into Dagster steps and dbt nodes.

Sources, all written by the run itself:

* the Dagster event log lines in the output (``STEP_START``, ``STEP_SUCCESS - Finished execution of step
  "X" in 2.35s.``, ``STEP_FAILURE``), and the intake's per-file lines (``NAME: R rows read, ...``);
* each dbt invocation's target folder (``dbt_project/target/<step>-<run>-<hash>/``, named in the
  output), holding ``run_results.json`` (per-node ``execution_time``) and ``dbt.log`` (JSON lines with
  microsecond timestamps: start, end of parsing, end of the command).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

_TS = r"(?P<ts>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) [+-]\d{4}"
_STEP_START = re.compile(_TS + r" - dagster - \w+ - .*? - (?P<step>[\w.\[\]-]+) - STEP_START - ")
_STEP_END = re.compile(
    _TS + r" - dagster - \w+ - .*? - (?P<step>[\w.\[\]-]+) - (?P<kind>STEP_SUCCESS|STEP_FAILURE) - "
    r'(?:Finished execution of step "[^"]+" in (?P<dur>[\d.hms]+)\.)?'
)
_RUN_END = re.compile(_TS + r" - dagster - \w+ - .*? - (?P<kind>RUN_SUCCESS|RUN_FAILURE) - ")
# "[3/15] events-2026-10.csv: 71,234 rows read, 71,100 landed, 134 quarantined, in 1.2 s"
_FILE_LINE = re.compile(
    r" - event_files - (?:\[\d+/\d+\] )?(?P<file>.+?): (?P<read>[\d,]+) rows read, "
    r"(?P<landed>[\d,]+) landed, (?P<quar>[\d,]+) quarantined"
)
_FILE_SKIPPED = re.compile(
    r" - event_files - (?:\[\d+/\d+\] )?(?P<file>.+?): skipped, same content"
)
_TARGET_DIR = re.compile(r"(/[^\s`'\"]*?/target/(?P<name>dbt_\w+?-[0-9a-f]{7}-[0-9a-f]+))(?:/|\b)")
_DUR_PART = re.compile(r"(?P<n>[\d.]+)(?P<u>ms|h|m|s)")
_DBT_RESULT_LINE = re.compile(
    r"\d+ of \d+ (?P<status>OK|PASS|WARN|ERROR|FAIL|SKIP)\w*(?: created sql \w+ model| loaded seed file)?"
    r" (?P<name>[\w.]+) \.+ \[.*? in (?P<secs>[\d.]+)s\]"
)


def parse_duration(text: str) -> float | None:
    """Dagster's format_duration back to seconds: '0.83ms', '533ms', '5.6s', '5m42s', '1h4m'."""
    parts = list(_DUR_PART.finditer(text or ""))
    if not parts:
        return None
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(p["n"]) * scale[p["u"]] for p in parts)


def _ts(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S")


@dataclass
class Step:
    name: str
    status: str = "running"  # success | failure | running (no end line seen)
    seconds: float | None = None  # Dagster's own duration when it printed one, else from timestamps
    dbt_dir: str | None = None


@dataclass
class DbtNode:
    unique_id: str
    resource_type: str  # model | test | unit_test | seed | snapshot
    name: str
    status: str
    seconds: float
    step: str


@dataclass
class DbtInvocation:
    step: str
    target_dir: str
    wall_s: float | None = None  # first log line -> command completed
    parse_s: float | None = None  # first log line -> "Concurrency: N threads" (start-up + parse)
    execute_s: float | None = None  # run_results.json elapsed_time
    models_s: float = 0.0
    tests_s: float = 0.0
    other_nodes_s: float = 0.0
    full_reparse: bool = False  # "Unable to do partial parsing ..."
    nodes: list[DbtNode] = field(default_factory=list)


@dataclass
class RunBreakdown:
    steps: list[Step] = field(default_factory=list)
    run_status: str | None = None
    rows_read: int = 0
    rows_landed: int = 0
    rows_quarantined: int = 0
    files_loaded: int = 0
    files_skipped: int = 0
    dbt: list[DbtInvocation] = field(default_factory=list)

    def step_seconds(self) -> dict[str, float]:
        return {s.name: s.seconds for s in self.steps if s.seconds is not None}

    def dbt_nodes(self) -> list[DbtNode]:
        return [n for inv in self.dbt for n in inv.nodes]

    def to_dict(self) -> dict:
        return asdict(self)


def parse_run_log(text: str) -> RunBreakdown:
    out = RunBreakdown()
    steps: dict[str, Step] = {}
    starts: dict[str, datetime] = {}
    current: str | None = None
    printed: dict[str, list[DbtNode]] = {}  # dbt's printed result lines, by step (a fallback)
    for line in text.splitlines():
        if current and (m := _DBT_RESULT_LINE.search(line)):
            kind = "model" if " model " in line or m["status"] == "OK" else "test"
            printed.setdefault(current, []).append(
                DbtNode(m["name"], kind, m["name"], m["status"], float(m["secs"]), current)
            )
        if m := _STEP_START.search(line):
            current = m["step"]
            starts[current] = _ts(m["ts"])
            steps[current] = Step(current)
            out.steps.append(steps[current])
        elif m := _STEP_END.search(line):
            step = steps.setdefault(m["step"], Step(m["step"]))
            if step not in out.steps:
                out.steps.append(step)
            step.status = "success" if m["kind"] == "STEP_SUCCESS" else "failure"
            step.seconds = parse_duration(m["dur"]) if m["dur"] else None
            if step.seconds is None and m["step"] in starts:
                step.seconds = (_ts(m["ts"]) - starts[m["step"]]).total_seconds()
        elif m := _RUN_END.search(line):
            out.run_status = "success" if m["kind"] == "RUN_SUCCESS" else "failure"
        elif m := _FILE_LINE.search(line):
            out.rows_read += int(m["read"].replace(",", ""))
            out.rows_landed += int(m["landed"].replace(",", ""))
            out.rows_quarantined += int(m["quar"].replace(",", ""))
            out.files_loaded += 1
        elif _FILE_SKIPPED.search(line):
            out.files_skipped += 1
        if current and (m := _TARGET_DIR.search(line)):
            step = steps.get(current)
            if step is not None and step.dbt_dir is None and m["name"].startswith(current):
                step.dbt_dir = m.group(1)
    for step in out.steps:
        inv = None
        if step.dbt_dir:
            inv = read_dbt_invocation(step.name, Path(step.dbt_dir))
        if printed.get(step.name) and (inv is None or not inv.nodes):
            # No run_results.json (dbt failed, or no target folder): use the printed result lines.
            inv = inv or DbtInvocation(step=step.name, target_dir="(printed lines)")
            inv.nodes = printed[step.name]
            inv.models_s = sum(n.seconds for n in inv.nodes if n.resource_type == "model")
            inv.tests_s = sum(n.seconds for n in inv.nodes if n.resource_type == "test")
        if inv is not None:
            out.dbt.append(inv)
    return out


def _iso(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def read_dbt_invocation(step: str, target_dir: Path) -> DbtInvocation:
    inv = DbtInvocation(step=step, target_dir=str(target_dir))
    log = target_dir / "dbt.log"
    first = concurrency = completed = completed_any = None
    if log.exists():
        for raw in log.open(encoding="utf-8", errors="replace"):
            try:
                info = json.loads(raw)["info"]
            except (ValueError, KeyError):
                continue
            ts = _iso(info["ts"])
            first = first or ts
            name = info.get("name")
            if name == "ConcurrencyLine":
                concurrency = ts
            elif name == "UnableToPartialParse":
                inv.full_reparse = True
            elif name in ("CommandCompleted", "MainEncounteredError"):
                completed = ts
            completed_any = ts
        completed = completed or (completed_any if first else None)
    if first and concurrency:
        inv.parse_s = (concurrency - first).total_seconds()
    if first and completed:
        inv.wall_s = (completed - first).total_seconds()
    results = target_dir / "run_results.json"
    if results.exists():
        data = json.loads(results.read_text(encoding="utf-8"))
        inv.execute_s = data.get("elapsed_time")
        for r in data.get("results", []):
            uid = r.get("unique_id", "?")
            rtype = uid.split(".", 1)[0]
            secs = float(r.get("execution_time") or 0.0)
            parts = uid.split(".")
            name = parts[2] if rtype == "test" and len(parts) >= 4 else ".".join(parts[2:]) or uid
            node = DbtNode(uid, rtype, name, str(r.get("status")), secs, step)
            inv.nodes.append(node)
            if rtype == "model":
                inv.models_s += secs
            elif rtype in ("test", "unit_test"):
                inv.tests_s += secs
            else:
                inv.other_nodes_s += secs
    return inv
