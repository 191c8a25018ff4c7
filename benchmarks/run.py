"""`make bench`: Meterhouse end to end at several sizes; writes BENCHMARKS.md.

For each size (events in the generated data set, 12 months, 1,000 customers by default):

1. generate the data set into its own data directory (timed apart, in a subprocess);
2. end to end: ``.venv/bin/meterhouse run --data-dir DIR`` in a subprocess, exactly as a user runs it
   (its own DAGSTER_HOME holding a copy of orchestration/dagster.yaml, DO_NOT_TRACK=1): wall time,
   events/s (rows read / wall), peak memory of the whole process tree (dbt runs in a child process);
3. incremental batch: 10,000 fresh valid events in one new JSONL file, then ``meterhouse run`` again;
4. floors: DuckDB alone loading the same landing files into one table, then one scan over it;
5. BENCHMARKS.md: machine, commands, numbers per size, and what dominates (Dagster steps, dbt nodes).

A failing step is recorded (with the last lines of its output) and the benchmark goes on.

    .venv/bin/python -m benchmarks.run --quick --out /tmp/bench.md     # smoke check, ~1.5 minutes
    .venv/bin/python -m benchmarks.run --out BENCHMARKS.md              # 1M and 10M events, ~20 min
    .venv/bin/python -m benchmarks.run --snapshot-code ...              # from a frozen copy of the code
    .venv/bin/python -m benchmarks.run --render bench_out/results.json  # re-render the report only
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from .incremental import write_incremental_batch
from .logparse import parse_run_log
from .measure import Measured, run_measured
from .report import render_report

REPO = Path(__file__).resolve().parent.parent
QUICK_SIZES = [20_000]

GENERATE_SNIPPET = (
    "import json, sys; from datetime import date; from pathlib import Path; "
    "from ingestion.generate import generate; "
    "m = generate(Path(sys.argv[1]), customers=int(sys.argv[2]), months=int(sys.argv[3]), "
    "events=int(sys.argv[4]), seed=int(sys.argv[5]), end_date=date.fromisoformat(sys.argv[6])); "
    "print(json.dumps({'total_rows': m['total_rows']}))"
)
MANIFEST_SNIPPET = "from orchestration.cli import ensure_manifest; print(ensure_manifest())"


def _parse_size(text: str) -> int:
    text = text.strip().lower().replace("_", "")
    scale = 1
    if text.endswith("k"):
        scale, text = 1_000, text[:-1]
    elif text.endswith("m"):
        scale, text = 1_000_000, text[:-1]
    return int(float(text) * scale)


def _memory_bytes(text: str) -> int:
    m = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]?i?B)\s*", text, re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 16GB")
    unit = m.group(2).upper()
    base = 1024 if "I" in unit else 1000
    power = {"B": 0, "K": 1, "M": 2, "G": 3, "T": 4}[unit[0]]
    return int(float(m.group(1)) * base**power)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"), help="report (Markdown)")
    ap.add_argument(
        "--sizes",
        default=None,
        help="comma-separated event counts (1000000,10000000; 1M and 10k are accepted); "
        f"default 1000000,10000000, or {QUICK_SIZES[0]} with --quick",
    )
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--customers", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--end-date", type=date.fromisoformat, default=date(2026, 11, 1))
    ap.add_argument(
        "--workdir",
        type=Path,
        default=REPO / "bench_out",
        help="where data sets, logs and results.json go (default bench_out/, git-ignored)",
    )
    ap.add_argument(
        "--memory-limit",
        default="4GB",
        help="DuckDB memory limit, written to DIR/meterhouse.yml as duckdb_memory_limit (and used by "
        "the floors)",
    )
    ap.add_argument("--incremental-events", type=int, default=10_000)
    ap.add_argument(
        "--quick", action="store_true", help=f"smoke check: {QUICK_SIZES[0]:,} events only"
    )
    ap.add_argument(
        "--rss-cap",
        type=_memory_bytes,
        default=_memory_bytes("16GiB"),
        help="stop a subprocess whose process tree goes over this RSS (default 16GiB)",
    )
    ap.add_argument(
        "--timeout", type=float, default=3 * 3600, help="per subprocess, seconds (default 3 h)"
    )
    ap.add_argument(
        "--code-dir",
        type=Path,
        default=REPO,
        help="run the pipeline from this copy of the repository (default: this one); the venv of "
        "this repository is used, with PYTHONPATH pointing at the copy",
    )
    ap.add_argument(
        "--snapshot-code",
        action="store_true",
        help="copy the pipeline's code (dbt project, orchestration, ingestion) into WORKDIR/code first "
        "and run from that frozen copy, so edits made to the repository while a long benchmark runs "
        "cannot change (or break) it halfway",
    )
    ap.add_argument(
        "--render",
        type=Path,
        metavar="RESULTS_JSON",
        help="only re-render --out from a results.json of an earlier run (nothing is run)",
    )
    ap.add_argument(
        "--keep-data", action="store_true", help="keep each size's data directory afterwards"
    )
    args = ap.parse_args(argv)
    if args.sizes is None:
        args.sizes = ",".join(map(str, QUICK_SIZES)) if args.quick else "1000000,10000000"
    args.size_list = [_parse_size(s) for s in args.sizes.split(",") if s.strip()]
    return args


# -- machine -------------------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _cmd_out(cmd: list[str], cwd: Path | None = None) -> str:
    try:
        return subprocess.run(
            cmd, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
        ).stdout.rstrip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("duckdb", "dbt-core", "dbt-duckdb", "dagster", "dagster-dbt", "pyarrow", "psutil"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "?"
    return out


def machine_info(code_dir: Path) -> dict:
    cpuinfo = _read("/proc/cpuinfo")
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in cpuinfo.splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "?",
    )
    meminfo = _read("/proc/meminfo")
    mem_kb = next(
        (int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal:")), 0
    )
    git_head = _cmd_out(["git", "rev-parse", "--short", "HEAD"], code_dir)
    git_status = _cmd_out(["git", "status", "--porcelain", "--untracked-files=all"], code_dir)
    return {
        "hostname": platform.node(),
        "nproc": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": model,
        "mem_total_bytes": mem_kb * 1024,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "packages": _package_versions(),
        "code_dir": str(code_dir),
        "git_head": git_head,
        "git_dirty": [line for line in git_status.splitlines() if line.strip()],
    }


def _loadavg() -> str:
    return " ".join(_read("/proc/loadavg").split()[:3])


CODE_PATHS = ("dbt_project/models", "dbt_project/macros", "dbt_project/dbt_project.yml",
              "dbt_project/profiles.yml", "orchestration", "ingestion")  # fmt: skip


def code_fingerprint(code_dir: Path) -> str:
    """Short hash of the pipeline's code (dbt project, orchestration, ingestion) as it is now.

    Taken at the start and the end of every size: other people may edit the code while a long
    benchmark runs, and numbers measured across an edit are flagged in the report.
    """
    digest = hashlib.sha256()
    for rel in CODE_PATHS:
        root = code_dir / rel
        paths = [root] if root.is_file() else sorted(root.rglob("*")) if root.exists() else []
        for p in paths:
            if p.is_file() and "__pycache__" not in p.parts:
                digest.update(p.relative_to(code_dir).as_posix().encode() + b"\0")
                digest.update(p.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


# -- one size --------------------------------------------------------------------------------------


def snapshot_code(src: Path, dest: Path) -> Path:
    """Copy what `meterhouse run` needs from ``src`` into ``dest`` (replaced): a frozen code tree."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    ignore = shutil.ignore_patterns(
        "__pycache__", "*.pyc", "target", "logs", "dbt_packages", "*.duckdb", "*.duckdb.wal"
    )
    for rel in ("dbt_project", "orchestration", "ingestion"):
        shutil.copytree(src / rel, dest / rel, ignore=ignore)
    for rel in ("pyproject.toml",):
        if (src / rel).exists():
            shutil.copy2(src / rel, dest / rel)
    return dest


def _env(dagster_home: Path, code_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("MH_DATA_DIR", "DUCKDB_PATH", "MH_DUCKDB_MEMORY_LIMIT"):
        env.pop(key, None)  # the CLI sets them from --data-dir and meterhouse.yml
    env.update(
        DAGSTER_HOME=str(dagster_home),
        DO_NOT_TRACK="1",
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        GX_ANALYTICS_ENABLED="false",
        PYTHONUNBUFFERED="1",  # keep dbt's relayed lines in order with Dagster's log lines
    )
    if code_dir.resolve() != REPO:
        env["PYTHONPATH"] = os.pathsep.join([str(code_dir), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _set_memory_limit(data_dir: Path, limit: str) -> None:
    path = data_dir / "meterhouse.yml"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    line = f'duckdb_memory_limit: "{limit}"'
    if re.search(r"(?m)^duckdb_memory_limit:.*$", text):
        text = re.sub(r"(?m)^duckdb_memory_limit:.*$", line, text)
    else:
        text = text.rstrip("\n") + ("\n" if text else "") + line + "\n"
    path.write_text(text, encoding="utf-8")


def _meterhouse() -> Path:
    exe = REPO / ".venv" / "bin" / "meterhouse"
    return exe if exe.exists() else Path(sys.executable).parent / "meterhouse"


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def _failure(m: Measured) -> dict | None:
    if m.ok:
        return None
    lines = [line for line in m.tail if line.strip()]
    errors = []
    for line in _read(m.log_path).splitlines():
        s = line.strip()
        if (
            re.search(r"(Error|error:|STEP_FAILURE|RUN_FAILURE|Compilation Error|Traceback)", s)
            and s not in errors
        ):
            errors.append(s)
    return {
        "returncode": m.returncode,
        "killed": m.killed,
        "errors": [e[:400] for e in errors[:8]],
        "tail": [line[:400] for line in lines[-15:]],
    }


def _pipeline_run(
    label: str, data_dir: Path, sdir: Path, env: dict, args, job: str = "close"
) -> dict:
    cmd = [str(_meterhouse()), "run", "--data-dir", str(data_dir), "--job", job]
    print(f"  {label}: {shlex.join(cmd)}", flush=True)
    m = run_measured(
        cmd,
        log_path=sdir / f"run_{label}.log",
        cwd=args.code_dir,
        env=env,
        rss_cap=args.rss_cap,
        timeout_s=args.timeout,
    )
    breakdown = parse_run_log(_read(m.log_path))
    out = {
        "measured": m.to_dict(),
        "breakdown": breakdown.to_dict(),
        "rows_read": breakdown.rows_read,
        "events_per_s": breakdown.rows_read / m.wall_s if m.wall_s else None,
        "failure": _failure(m),
        "warehouse_bytes": (data_dir / "warehouse.duckdb").stat().st_size
        if (data_dir / "warehouse.duckdb").exists()
        else None,
        "snapshot_bytes": (data_dir / "warehouse.read.duckdb").stat().st_size
        if (data_dir / "warehouse.read.duckdb").exists()
        else None,
    }
    status = "ok" if m.ok else f"FAILED (rc={m.returncode}{', ' + m.killed if m.killed else ''})"
    print(
        f"    {status}: {m.wall_s:.1f} s, {breakdown.rows_read:,} rows read, "
        f"peak tree RSS {m.peak_tree_rss / 2**30:.2f} GiB",
        flush=True,
    )
    return out


def bench_size(size: int, args, token: str) -> dict:
    label = f"events_{size}"
    sdir = args.workdir / label
    if sdir.exists():
        shutil.rmtree(sdir)
    data_dir = sdir / "data"
    dagster_home = sdir / "dagster_home"
    dagster_home.mkdir(parents=True)
    shutil.copy(REPO / "orchestration" / "dagster.yaml", dagster_home / "dagster.yaml")
    env = _env(dagster_home, args.code_dir)
    py = sys.executable
    res: dict = {
        "size": size,
        "label": label,
        "dir": str(sdir),
        "loadavg_start": _loadavg(),
        "code_start": code_fingerprint(args.code_dir),
    }
    print(f"== {size:,} events ({label}) ==", flush=True)

    # 1. generate (its own process; not part of the pipeline's time)
    gen_cmd = [
        py, "-c", GENERATE_SNIPPET, str(data_dir), str(args.customers), str(args.months),
        str(size), str(args.seed), args.end_date.isoformat(),
    ]  # fmt: skip
    print(
        f"  generate: {size:,} events, {args.months} months, {args.customers} customers", flush=True
    )
    m = run_measured(
        gen_cmd, log_path=sdir / "generate.log", cwd=REPO, env=env,
        rss_cap=args.rss_cap, timeout_s=args.timeout,
    )  # fmt: skip
    res["generate"] = {"measured": m.to_dict(), "failure": _failure(m)}
    print(f"    {'ok' if m.ok else 'FAILED'}: {m.wall_s:.1f} s", flush=True)
    if not m.ok:
        return res
    manifest = json.loads((data_dir / "generator_manifest.json").read_text(encoding="utf-8"))
    event_files = sorted(str(data_dir / name) for name in manifest["files"])
    res["generate"].update(
        total_rows=manifest["total_rows"],
        files=len(event_files),
        landing_bytes=sum(f["bytes"] for f in manifest["files"].values()),
        bytes_by_format={
            fmt: sum(f["bytes"] for f in manifest["files"].values() if f["format"] == fmt)
            for fmt in sorted({f["format"] for f in manifest["files"].values()})
        },
        subscriptions=manifest.get("subscriptions"),
    )
    _set_memory_limit(data_dir, args.memory_limit)

    # dbt manifest up to date before timing (a one-off `dbt parse`, not per data size)
    m = run_measured(
        [py, "-c", MANIFEST_SNIPPET], log_path=sdir / "manifest.log", cwd=args.code_dir, env=env,
        timeout_s=args.timeout,
    )  # fmt: skip
    res["manifest_warmup"] = {"measured": m.to_dict(), "failure": _failure(m)}

    # 2. end to end
    res["full"] = _pipeline_run("full", data_dir, sdir, env, args)

    # 3. the same command with nothing new: what any run costs before it does any work (start-up, the
    #    dbt blocks' process starts and parses, checks, snapshot), the floor under an incremental batch
    # 4. incremental batch, through the same close the landing sensor starts
    # 5. another batch through the refresh job (what the 15-minute schedule runs between closes)
    res["noop"] = res["incremental"] = res["refresh"] = None
    if res["full"]["failure"] is None:
        full_s = res["full"]["measured"]["wall_s"]
        res["noop"] = _pipeline_run("noop", data_dir, sdir, env, args)
        res["noop"]["ratio"] = res["noop"]["measured"]["wall_s"] / full_s
        for key, job, batch_token in (
            ("incremental", "close", token),
            ("refresh", "refresh", f"{token}r"),
        ):
            t = time.perf_counter()
            batch = write_incremental_batch(data_dir, args.incremental_events, token=batch_token)
            batch["write_s"] = time.perf_counter() - t
            res[f"{key}_batch"] = batch
            res[key] = _pipeline_run(key, data_dir, sdir, env, args, job=job)
            res[key]["ratio"] = res[key]["measured"]["wall_s"] / full_s

    # 4. floors, on the generated files only (not the incremental batch)
    floor_json = sdir / "floor.json"
    cmd = [
        py, "-m", "benchmarks.floor", "--db", str(sdir / "floor.duckdb"),
        "--memory-limit", args.memory_limit, "--json-out", str(floor_json), *event_files,
    ]  # fmt: skip
    print("  floors: DuckDB load + scan", flush=True)
    m = run_measured(
        cmd, log_path=sdir / "floor.log", cwd=REPO, env=env,
        rss_cap=args.rss_cap, timeout_s=args.timeout,
    )  # fmt: skip
    res["floor"] = {"measured": m.to_dict(), "failure": _failure(m)}
    if m.ok and floor_json.exists():
        res["floor"].update(json.loads(floor_json.read_text(encoding="utf-8")))
        print(
            f"    load {res['floor']['load_s']:.1f} s, scan {res['floor']['scan_s']:.2f} s",
            flush=True,
        )
    res["data_dir_bytes"] = _dir_bytes(data_dir)
    res["loadavg_end"] = _loadavg()
    res["code_end"] = code_fingerprint(args.code_dir)
    if not args.keep_data:
        shutil.rmtree(data_dir, ignore_errors=True)
    return res


# -- driver ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        _write_report(args.out, json.loads(args.render.read_text(encoding="utf-8")))
        print(f"Wrote {args.out} from {args.render}", flush=True)
        return 0
    args.workdir = args.workdir.resolve()
    args.code_dir = args.code_dir.resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)
    source_dir = args.code_dir
    if args.snapshot_code:
        args.code_dir = snapshot_code(source_dir, args.workdir / "code")
        print(f"Running from a frozen copy of {source_dir}: {args.code_dir}", flush=True)
    started = datetime.now(UTC)
    token = started.strftime("%Y%m%dT%H%M%S")
    results = {
        "started": started.isoformat(timespec="seconds"),
        "command": shlex.join(
            [Path(sys.executable).name, "-m", "benchmarks.run", *(argv or sys.argv[1:])]
        ),
        "options": {
            "sizes": args.size_list,
            "months": args.months,
            "customers": args.customers,
            "seed": args.seed,
            "end_date": args.end_date.isoformat(),
            "memory_limit": args.memory_limit,
            "incremental_events": args.incremental_events,
            "quick": args.quick,
            "workdir": str(args.workdir),
            "rss_cap": args.rss_cap,
        },
        "meterhouse": str(_meterhouse()),
        "machine": machine_info(source_dir),
        "code_dir": str(args.code_dir),
        "snapshot_code": bool(args.snapshot_code),
        "sizes": [],
    }
    results_path = args.workdir / "results.json"
    for size in args.size_list:
        try:
            res = bench_size(size, args, token)
        except Exception as exc:  # the harness itself failed on this size: record it, go on
            import traceback

            res = {"size": size, "label": f"events_{size}", "harness_error": traceback.format_exc()}
            print(f"  harness error: {exc}", file=sys.stderr, flush=True)
        results["sizes"].append(res)
        results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
        results_path.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
        _write_report(args.out, results)
    print(f"Wrote {args.out} (raw numbers: {results_path})", flush=True)
    return 0


def _write_report(out: Path, results: dict) -> None:
    out = Path(out)
    text = render_report(results)
    with tempfile.NamedTemporaryFile(
        "w", dir=out.resolve().parent, prefix=f".{out.name}.", delete=False, encoding="utf-8"
    ) as fh:
        fh.write(text)
    os.replace(fh.name, out)


if __name__ == "__main__":
    raise SystemExit(main())
