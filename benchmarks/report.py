"""Render BENCHMARKS.md from the results dict of benchmarks.run (also saved as results.json)."""

from __future__ import annotations

from pathlib import Path

STEP_ORDER = (
    "catalog_files",
    "account_files",
    "event_files",
    "dbt_core",
    "dbt_issued",
    "dbt_reporting",
    "warehouse_snapshot",
)
TARGET_RATIO = 0.10


# -- formatting ------------------------------------------------------------------------------------


def _s(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x:,.{digits}f}"


def _gib(n: int | float | None) -> str:
    if n is None:
        return "–"
    if n >= 2**30 / 10:
        return f"{n / 2**30:.2f} GiB"
    return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


def _int(n: int | float | None) -> str:
    return "–" if n is None else f"{int(round(n)):,}"


def _pct(part: float | None, whole: float | None) -> str:
    if part is None or not whole:
        return "–"
    return f"{100 * part / whole:.0f}%"


def _size_label(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M events"
    if n % 1_000 == 0:
        return f"{n // 1_000}k events"
    return f"{n:,} events"


def _table(header: list[str], rows: list[list[str]], align: str | None = None) -> list[str]:
    align = align or ("l" + "r" * (len(header) - 1))
    sep = ["---:" if a == "r" else ":---" for a in align]
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _get(d: dict | None, *path, default=None):
    for key in path:
        if not isinstance(d, dict) or key not in d or d[key] is None:
            return default
        d = d[key]
    return d


def _run_cell(run: dict | None, key: str = "wall_s") -> str:
    if run is None:
        return "not run"
    if run.get("failure"):
        return f"FAILED after {_s(_get(run, 'measured', 'wall_s'))} s"
    return _s(_get(run, "measured", key))


def _secs_cell(run: dict | None) -> str:
    cell = _run_cell(run)
    return cell if run is None or run.get("failure") else cell + " s"


# -- sections --------------------------------------------------------------------------------------


def _machine(results: dict) -> list[str]:
    m = results["machine"]
    pk = m.get("packages", {})
    dirty = m.get("git_dirty") or []
    code = f"`{m.get('code_dir')}` at git `{m.get('git_head') or '?'}`"
    if dirty:
        shown = ", ".join(f"`{line[3:]}`" for line in dirty[:12])
        more = f" and {len(dirty) - 12} more" if len(dirty) > 12 else ""
        code += f", with {len(dirty)} uncommitted changes: {shown}{more}"
    rows = [
        ["CPU", f"{m.get('cpu_model')}: {m.get('nproc')} cores (usable: {m.get('affinity')})"],
        ["Memory", _gib(m.get("mem_total_bytes"))],
        ["OS kernel", m.get("kernel", "?")],
        ["Python", m.get("python", "?")],
        [
            "Packages",
            ", ".join(f"{k} {v}" for k, v in pk.items()),
        ],
        [
            "Code benchmarked",
            code
            + (
                f"; run from a frozen copy taken at the start (`{results.get('code_dir')}`, `--snapshot-code`)"
                if results.get("snapshot_code")
                else ""
            ),
        ],
        [
            "Code fingerprint (dbt project, orchestration, ingestion)",
            "; ".join(
                f"{_size_label(r['size'])}: `{r.get('code_start', '?')}`"
                + (
                    f" → `{r['code_end']}` (**the code changed during this size**)"
                    if r.get("code_end") and r.get("code_end") != r.get("code_start")
                    else ""
                )
                for r in results["sizes"]
            )
            or "–",
        ],
        [
            "Load average (1/5/15 min)",
            "; ".join(
                f"{_size_label(r['size'])}: {r.get('loadavg_start', '?')} at start, "
                f"{r.get('loadavg_end', '?')} at end"
                for r in results["sizes"]
            )
            or "–",
        ],
    ]
    return ["## Machine", "", *_table(["", ""], rows, "ll"), ""]


def _commands(results: dict) -> list[str]:
    o = results["options"]
    wd = o["workdir"]
    return [
        "## Commands",
        "",
        "```sh",
        f"{results['command']}",
        f"# for each size N (DIR = {wd}/events_N/data, a fresh directory per size):",
        "#  1. generate (timed apart):",
        f".venv/bin/python -c 'from ingestion.generate import generate; generate(DIR, "
        f"customers={o['customers']}, months={o['months']}, events=N, seed={o['seed']}, "
        f'end_date=date.fromisoformat("{o["end_date"]}"))\'',
        f'#     then DIR/meterhouse.yml gets duckdb_memory_limit: "{o["memory_limit"]}"',
        "#  2. end to end (dbt manifest parsed beforehand, once, outside the timing):",
        f"DAGSTER_HOME={wd}/events_N/dagster_home DO_NOT_TRACK=1 \\",
        "  .venv/bin/meterhouse run --data-dir DIR        # DAGSTER_HOME holds a copy of orchestration/dagster.yaml",
        f"#  3. incremental: one new file DIR/landing/events/bench-incremental-<run>.jsonl with "
        f"{o['incremental_events']:,} events, then the same command again",
        "#  4. floors (DuckDB only, same landing files, same memory limit, 2 threads):",
        f".venv/bin/python -m benchmarks.floor --db {wd}/events_N/floor.duckdb "
        f"--memory-limit {o['memory_limit']} --json-out ... DIR/landing/events/*",
        "```",
        "",
        "Wall times are measured around the subprocess (Python start-up and imports included). Peak memory: "
        "*process tree* is the largest sum of RSS over `meterhouse` and all its children (dbt, DuckDB "
        "inside it), sampled every 0.2 s with psutil; *largest process* is the exact `ru_maxrss` from "
        "`wait4` (the biggest single process of the tree). Events/s = rows read from the landing files / "
        "end-to-end wall time. CPU/wall is user+system CPU time of the tree over wall time (2 means both "
        "cores busy). *Other processes meanwhile* is the machine's non-idle CPU time during the run "
        "(`/proc/stat`) minus the run's own, over wall time: on a shared machine, anything well above 0 "
        "means the run competed for the 2 cores and its wall times are inflated; CPU time is the less "
        "contention-sensitive figure.",
        "",
    ]


def _summary(results: dict) -> list[str]:
    sizes = results["sizes"]
    header = [""] + [_size_label(r["size"]) for r in sizes]

    def row(name, fn):
        cells = []
        for r in sizes:
            try:
                cells.append(fn(r))
            except (KeyError, TypeError, ZeroDivisionError):
                cells.append("–")
        return [name, *cells]

    def full_ok(r):
        return r.get("full") and not r["full"].get("failure")

    def others(run):
        m = run["measured"]
        if m.get("others_cpu_s") is None:
            return "–"
        return _s(m["others_cpu_s"] / m["wall_s"], 2)

    def cores(run):
        m = run["measured"]
        return _s(m["user_s"] / m["wall_s"] + m["sys_s"] / m["wall_s"], 2)

    rows = [
        row("Rows in the landing files", lambda r: _int(_get(r, "generate", "total_rows"))),
        row("Landing files (bytes)", lambda r: _gib(_get(r, "generate", "landing_bytes"))),
        row("Generate, s", lambda r: _run_cell(r.get("generate"))),
        row("**End to end, s**", lambda r: f"**{_run_cell(r.get('full'))}**"),
        row("Events/s (rows read / wall)", lambda r: _int(r["full"]["events_per_s"]) if full_ok(r) else "–"),
        row("Peak RSS, process tree", lambda r: _gib(r["full"]["measured"]["peak_tree_rss"])),
        row("Peak RSS, largest process", lambda r: _gib(r["full"]["measured"]["peak_proc_rss"])),
        row("CPU / wall (cores used)", lambda r: cores(r["full"])),
        row("CPU time of the run, s (user+sys)", lambda r: _s(r["full"]["measured"]["user_s"] + r["full"]["measured"]["sys_s"])),
        row("Other processes meanwhile (cores busy)", lambda r: others(r["full"])),
        row(
            f"**Incremental ({results['options']['incremental_events']:,} events), s**",
            lambda r: f"**{_run_cell(r.get('incremental'))}**",
        ),
        row("Incremental / end to end", lambda r: _s(r["incremental"]["ratio"], 2) if r.get("incremental") else "–"),
        row("Incremental: other processes meanwhile (cores busy)", lambda r: others(r["incremental"])),
        row("Incremental peak RSS, process tree", lambda r: _gib(r["incremental"]["measured"]["peak_tree_rss"])),
        row("No-op run (same command, nothing new), s", lambda r: _run_cell(r.get("noop"))),
        row("No-op / end to end", lambda r: _s(r["noop"]["ratio"], 2)),
        row("Batch's own cost (incremental − no-op), s", lambda r: _s(_marginal(r))),
        row("Batch's own cost / end to end", lambda r: _s(_marginal(r) / r["full"]["measured"]["wall_s"], 3)),
        row(
            f"Refresh job with another {results['options']['incremental_events']:,} events, s",
            lambda r: _run_cell(r.get("refresh")),
        ),
        row("Refresh / end to end", lambda r: _s(r["refresh"]["ratio"], 2)),
        row("Floor: DuckDB load, s", lambda r: _s(r["floor"]["load_s"], 1)),
        row("Floor: DuckDB scan, s", lambda r: _s(r["floor"]["scan_s"], 3)),
        row(
            "End to end / floor load",
            lambda r: f"{r['full']['measured']['wall_s'] / r['floor']['load_s']:.0f}×" if full_ok(r) else "–",
        ),
        row("Warehouse file after the runs", lambda r: _gib(_get(r, "incremental", "warehouse_bytes") or _get(r, "full", "warehouse_bytes"))),
    ]  # fmt: skip
    return ["## Results", "", *_table(header, rows), ""]


def _marginal(r: dict) -> float | None:
    """What the batch itself adds: the incremental close minus the same close with nothing new."""
    inc, noop = r.get("incremental"), r.get("noop")
    if not inc or not noop or inc.get("failure") or noop.get("failure"):
        return None
    return inc["measured"]["wall_s"] - noop["measured"]["wall_s"]


def _fixed_costs(run: dict) -> tuple[dict[str, float], float] | None:
    """Per dbt block, its step time minus the time of its nodes; and the run's time outside the steps."""
    steps = {st["name"]: st["seconds"] for st in _get(run, "breakdown", "steps", default=[])}
    blocks = {
        d["step"]: steps[d["step"]] - sum(n["seconds"] for n in d.get("nodes", []))
        for d in _get(run, "breakdown", "dbt", default=[])
        if steps.get(d["step"]) is not None
    }
    if not blocks:
        return None
    return blocks, run["measured"]["wall_s"] - sum(v or 0 for v in steps.values())


def _contention(results: dict) -> list[str]:
    loads = []
    for r in results["sizes"]:
        for key in ("full", "noop", "incremental", "refresh"):
            m = _get(r, key, "measured")
            if m and m.get("others_cpu_s") is not None and m.get("wall_s"):
                loads.append(m["others_cpu_s"] / m["wall_s"])
    if not loads or max(loads) < 0.25:
        return []
    return [
        f"**Caveat: the machine was shared.** Other processes kept {min(loads):.1f}–{max(loads):.1f} of "
        f"the {results['machine'].get('nproc', '?')} cores busy during the timed runs (row *other "
        "processes meanwhile*), so the wall times above are upper bounds for a quiet machine; the CPU "
        "time of the run is the steadier figure.",
        "",
    ]


def _verdict(results: dict) -> list[str]:
    runs = [
        (r["size"], r["full"], r["incremental"])
        for r in results["sizes"]
        if r.get("full") and r.get("incremental") and not r["full"].get("failure")
    ]
    if not runs:
        return [
            "### Incremental target",
            "",
            "No size completed both runs, so the target (an incremental batch costs about the same at "
            "1M and 10M, and at most a tenth of a full run) could not be checked.",
            "",
        ]
    out = ["### Incremental target", ""]
    out.append(
        "Target: a 10,000-event batch costs about the same whatever the size of the warehouse, and at "
        f"most {TARGET_RATIO:.0%} of a full run."
    )
    out.append("")
    for size, full, inc in runs:
        ok = not inc.get("failure") and inc["ratio"] <= TARGET_RATIO
        out.append(
            f"- {_size_label(size)}: {_s(inc['measured']['wall_s'])} s vs "
            f"{_s(full['measured']['wall_s'])} s full = {inc['ratio']:.0%} of a full run: "
            f"**{'meets' if ok else 'does not meet'}** the {TARGET_RATIO:.0%} target"
            + (" (the incremental run FAILED)" if inc.get("failure") else "")
            + "."
        )
    by_size = {r["size"]: r for r in results["sizes"]}
    for size, full, _inc in runs:
        r = by_size[size]
        noop, refresh, marginal = r.get("noop"), r.get("refresh"), _marginal(r)
        if noop and not noop.get("failure"):
            full_s = full["measured"]["wall_s"]
            out.append(
                f"- {_size_label(size)}, where the time goes: the same close with nothing new costs "
                f"{_s(noop['measured']['wall_s'])} s ({noop['ratio']:.0%} of a full run: the fixed cost "
                "of a run, before any data); the batch itself adds "
                + (
                    f"{_s(marginal)} s ({marginal / full_s:.1%} of a full run)"
                    if marginal is not None
                    else "–"
                )
                + (
                    f"; the refresh job (the 15-minute schedule's run: load, meters, drafts, snapshot) "
                    f"takes another batch in {_s(refresh['measured']['wall_s'])} s ({refresh['ratio']:.0%})"
                    if refresh and not refresh.get("failure")
                    else ""
                )
                + "."
            )
            if noop["ratio"] > TARGET_RATIO:
                out.append(
                    f"  - Even an empty batch is over the target here: a run's fixed cost alone is "
                    f"{noop['ratio']:.0%} of a full run."
                )
            fixed = _fixed_costs(noop)
            if fixed:
                blocks, outside = fixed
                out.append(
                    f"  - Of the no-op: {len(blocks)} dbt blocks each pay "
                    f"{_s(min(blocks.values()))}–{_s(max(blocks.values()))} s whatever the data (their step "
                    f"time minus their nodes' times: the dbt process start, the project parse, Dagster's "
                    f"handling of their events), {_s(sum(blocks.values()))} s in all "
                    f"({sum(blocks.values()) / full_s:.0%} of a full run); start-up, imports and the "
                    f"summary outside the steps add {_s(outside)} s."
                )
    if len(runs) >= 2:
        (s0, _, i0), (s1, _, i1) = runs[0], runs[-1]
        growth = i1["measured"]["wall_s"] / i0["measured"]["wall_s"]
        flat = growth <= 1.5
        out.append(
            f"- From {_size_label(s0)} to {_size_label(s1)} ({s1 / s0:.0f}× the data) the incremental "
            f"run grows {growth:.1f}×: **{'about flat' if flat else 'not flat'}** "
            f'({"meets" if flat else "does not meet"} "about the same cost").'
        )
    out.append("")
    return out


def _steps_table(full: dict | None, inc: dict | None) -> list[str]:
    def secs(run):
        return {s["name"]: s for s in _get(run, "breakdown", "steps", default=[])}

    fs, is_ = secs(full), secs(inc)
    names = [n for n in STEP_ORDER if n in fs or n in is_]
    names += [n for n in dict.fromkeys([*fs, *is_]) if n not in names]
    fw = _get(full, "measured", "wall_s")
    iw = _get(inc, "measured", "wall_s")
    rows = []
    for n in names:
        f, i = fs.get(n), is_.get(n)
        fsec = f["seconds"] if f else None
        isec = i["seconds"] if i else None
        mark = lambda st: "" if not st or st["status"] == "success" else f" ({st['status']})"  # noqa: E731
        rows.append(
            [f"`{n}`", _s(fsec) + mark(f), _pct(fsec, fw), _s(isec) + mark(i), _pct(isec, iw)]
        )
    f_steps = sum(s["seconds"] or 0 for s in fs.values())
    i_steps = sum(s["seconds"] or 0 for s in is_.values())
    rows.append(
        [
            "outside steps (start-up, imports, Dagster, summary)",
            _s(fw - f_steps if fw else None),
            _pct(fw - f_steps if fw else None, fw),
            _s(iw - i_steps if iw else None),
            _pct(iw - i_steps if iw else None, iw),
        ]
    )
    rows.append(
        ["**total (wall)**", f"**{_s(fw)}**", "100%", f"**{_s(iw)}**", "100%" if iw else "–"]
    )
    return _table(["Dagster step", "full, s", "share", "incremental, s", "share"], rows)


def _kind_table(full: dict | None, inc: dict | None) -> list[str]:
    splits = [(_overhead_split(run) if run and run.get("measured") else {}) for run in (full, inc)]
    walls = [_get(run, "measured", "wall_s") for run in (full, inc)]
    keys = list(splits[0] or splits[1])
    if not keys:
        return []
    rows = [
        [k, _s(splits[0].get(k)), _pct(splits[0].get(k), walls[0]),
         _s(splits[1].get(k)), _pct(splits[1].get(k), walls[1])]
        for k in keys
    ]  # fmt: skip
    return _table(["kind of work", "full, s", "share", "incremental, s", "share"], rows)


def _dbt_table(full: dict | None, inc: dict | None, noop: dict | None = None) -> list[str]:
    rows = []
    for label, run in (("full", full), ("no-op", noop), ("incremental", inc)):
        steps = {s["name"]: s["seconds"] for s in _get(run, "breakdown", "steps", default=[])}
        for d in _get(run, "breakdown", "dbt", default=[]):
            step_s = steps.get(d["step"])
            outside = step_s - d["wall_s"] if step_s is not None and d.get("wall_s") else None
            node_s = sum(n["seconds"] for n in d.get("nodes", []))
            fixed = step_s - node_s if step_s is not None else None
            rows.append(
                [
                    label,
                    f"`{d['step']}`",
                    _s(step_s),
                    _s(outside),
                    _s(d.get("wall_s")),
                    _s(d.get("parse_s")) + (" (full re-parse)" if d.get("full_reparse") else ""),
                    _s(d.get("models_s")),
                    _s(d.get("tests_s")),
                    _s(fixed),
                    str(len(d.get("nodes", []))),
                ]
            )
    if not rows:
        return ["(no dbt timings found)"]
    return _table(
        [
            "run",
            "dbt step",
            "step, s",
            "outside dbt.log (Dagster, dbt start-up), s",
            "dbt.log span, s",
            "parse, s",
            "models, s",
            "tests, s",
            "step − node times (paid whatever the data), s",
            "nodes",
        ],
        rows,
    )


def _node_name(node: dict) -> str:
    """``model.meterhouse.int_fees`` -> ``int_fees``; a generic test keeps its name, not its hash."""
    parts = node["unique_id"].split(".")
    if len(parts) < 3:
        return node.get("name") or node["unique_id"]
    if parts[0] == "test" and len(parts) >= 4:
        return parts[2]
    return ".".join(parts[2:])


def _top_nodes(run: dict | None, kinds: tuple[str, ...], n: int) -> list[dict]:
    nodes = [
        node
        for d in _get(run, "breakdown", "dbt", default=[])
        for node in d.get("nodes", [])
        if node["resource_type"] in kinds
    ]
    return sorted(nodes, key=lambda x: -x["seconds"])[:n]


def _nodes_by_id(run: dict | None) -> dict[str, dict]:
    return {
        node["unique_id"]: node
        for d in _get(run, "breakdown", "dbt", default=[])
        for node in d.get("nodes", [])
    }


def _top_table(
    full: dict | None,
    inc: dict | None,
    kinds: tuple[str, ...],
    n: int,
    what: str,
    by: str = "full",
) -> list[str]:
    """The ``n`` slowest nodes of one run (``by``: full | incremental), with the other run beside."""
    lead, other = (full, inc) if by == "full" else (inc, full)
    top = _top_nodes(lead, kinds, n)
    if not top:
        return [f"(no {what} timings found)"]
    others = _nodes_by_id(other)
    total = _get(lead, "measured", "wall_s")
    rows = []
    for node in top:
        o = others.get(node["unique_id"])
        mine, theirs = _s(node["seconds"], 2), _s(o["seconds"], 2) if o else "–"
        full_s, inc_s = (mine, theirs) if by == "full" else (theirs, mine)
        rows.append(
            [
                f"`{_node_name(node)}`",
                node["resource_type"],
                f"`{node['step']}`",
                full_s,
                inc_s,
                _pct(node["seconds"], total),
                node["status"],
            ]
        )
    return _table(
        [what, "type", "step", "full, s", "incremental, s", f"of {by} wall", "status"], rows
    )


def _overhead_split(run: dict) -> dict[str, float]:
    """A run's wall time by kind of work (seconds)."""
    steps = {s["name"]: s["seconds"] or 0.0 for s in _get(run, "breakdown", "steps", default=[])}
    dbt = _get(run, "breakdown", "dbt", default=[])
    models = sum(d.get("models_s") or 0 for d in dbt)
    tests = sum(d.get("tests_s") or 0 for d in dbt)
    parse = sum(d.get("parse_s") or 0 for d in dbt)
    dbt_steps = sum(steps.get(d["step"], 0.0) for d in dbt)
    wall = run["measured"]["wall_s"]
    return {
        "intake (event_files)": steps.get("event_files", 0.0),
        "dbt models (SQL)": models,
        "dbt data/unit tests (SQL)": tests,
        "dbt start-up + project parse": parse,
        "rest of the dbt steps (dbt process start, Dagster/dagster-dbt event handling, "
        "introspection)": max(0.0, dbt_steps - models - tests - parse),
        "snapshot copy": steps.get("warehouse_snapshot", 0.0),
        "catalog + accounts": steps.get("catalog_files", 0.0) + steps.get("account_files", 0.0),
        "outside steps (Python start-up, imports, Dagster set-up, summary)": max(
            0.0, wall - sum(steps.values())
        ),
    }


def _observations(r: dict) -> list[str]:
    """Facts computed from the numbers (what dominates), one bullet each."""
    full, inc = r.get("full"), r.get("incremental")
    out = []
    if not full:
        return out
    fw = full["measured"]["wall_s"]
    steps = {s["name"]: s["seconds"] or 0.0 for s in _get(full, "breakdown", "steps", default=[])}
    if steps:
        top = max(steps, key=steps.get)
        out.append(
            f"The largest step of the full run is `{top}`: {_s(steps[top])} s ({_pct(steps[top], fw)})."
        )
    intake = steps.get("event_files")
    rows = full.get("rows_read")
    if intake and rows:
        floor_load = _get(r, "floor", "load_s")
        extra = (
            f"; DuckDB alone loads the same files in {_s(floor_load)} s ({intake / floor_load:.0f}× faster)"
            if floor_load
            else ""
        )
        out.append(
            f"Intake (`event_files`, Python parsing row by row): {_s(intake)} s for {_int(rows)} rows = "
            f"{_int(rows / intake)} rows/s{extra}."
        )
    dbt_steps = [d for d in _get(full, "breakdown", "dbt", default=[])]
    if dbt_steps:
        parse = sum(d.get("parse_s") or 0 for d in dbt_steps)
        reparse = sum(1 for d in dbt_steps if d.get("full_reparse"))
        tests = sum(d.get("tests_s") or 0 for d in dbt_steps)
        models = sum(d.get("models_s") or 0 for d in dbt_steps)
        out.append(
            f"dbt: {len(dbt_steps)} invocations; models {_s(models)} s, data/unit tests {_s(tests)} s, "
            f"start-up + parse {_s(parse)} s"
            + (f" ({reparse} of them re-parse the whole project: \"Unable to do partial parsing\")" if reparse else "")
            + "."
        )  # fmt: skip
    snap = steps.get("warehouse_snapshot")
    if snap is not None:
        out.append(
            f"`warehouse_snapshot` copies the whole warehouse ({_gib(full.get('warehouse_bytes'))}) on every "
            f"run: {_s(snap)} s."
        )
    if inc and not inc.get("failure"):
        isteps = {
            s["name"]: s["seconds"] or 0.0 for s in _get(inc, "breakdown", "steps", default=[])
        }
        if isteps:
            iw = inc["measured"]["wall_s"]
            top = sorted(isteps, key=isteps.get, reverse=True)[:3]
            out.append(
                "Incremental run: "
                + ", ".join(f"`{n}` {_s(isteps[n])} s ({_pct(isteps[n], iw)})" for n in top)
                + f"; {_int(_get(inc, 'rows_read'))} rows read."
            )
        full_nodes = _nodes_by_id(full)
        slow = _top_nodes(inc, ("model", "test", "unit_test"), 3)
        if slow:
            out.append(
                "Slowest dbt nodes of the incremental run, against the same node in the full run: "
                + "; ".join(
                    f"`{_node_name(n)}` {_s(n['seconds'], 2)} s"
                    + (
                        f" ({_pct(n['seconds'], full_nodes[n['unique_id']]['seconds'])} of its "
                        f"{_s(full_nodes[n['unique_id']]['seconds'], 2)} s)"
                        if n["unique_id"] in full_nodes and full_nodes[n["unique_id"]]["seconds"]
                        else ""
                    )
                    for n in slow
                )
                + "."
            )
    return [f"- {line}" for line in out]


def _failure_block(name: str, failure: dict | None) -> list[str]:
    if not failure:
        return []
    lines = [f"**{name} failed** (exit code {failure.get('returncode')})."]
    if failure.get("killed"):
        lines.append(f"{failure['killed']}.")
    body = []
    if failure.get("errors"):
        body += ["# error lines:", *failure["errors"], ""]
    body += ["# last lines:", *failure.get("tail", [])]
    return ["", *lines, "", "```text", *body, "```", ""]


def _per_size(r: dict, results: dict) -> list[str]:
    size = r["size"]
    out = [f"### {_size_label(size)} ({size:,} rows requested)", ""]
    if r.get("harness_error"):
        return out + [
            "The harness failed on this size:",
            "",
            "```text",
            r["harness_error"],
            "```",
            "",
        ]
    gen, full, inc, floor = r.get("generate"), r.get("full"), r.get("incremental"), r.get("floor")
    rows = [
        ["Generate", _secs_cell(gen),
         f"{_int(_get(gen, 'total_rows'))} rows in {_get(gen, 'files', default='?')} files, "
         f"{_gib(_get(gen, 'landing_bytes'))} "
         f"({', '.join(f'{k} {_gib(v)}' for k, v in (_get(gen, 'bytes_by_format', default={}) or {}).items())}); "
         f"peak RSS {_gib(_get(gen, 'measured', 'peak_tree_rss'))}"],
        ["dbt manifest (before timing)", _secs_cell(r.get("manifest_warmup")), "`ensure_manifest()`: `dbt parse` only if stale"],
        ["End to end", _secs_cell(full),
         f"{_int(_get(full, 'rows_read'))} rows read, {_int(_get(full, 'events_per_s'))} events/s, "
         f"peak RSS tree {_gib(_get(full, 'measured', 'peak_tree_rss'))} / largest process "
         f"{_gib(_get(full, 'measured', 'peak_proc_rss'))}, CPU {_s(_get(full, 'measured', 'user_s', default=0) + _get(full, 'measured', 'sys_s', default=0))} s"],
        ["Incremental batch", _secs_cell(inc),
         (f"{_int(_get(r, 'incremental_batch', 'events'))} events from `{_get(r, 'incremental_batch', 'derived_from')}` "
          f"({_get(r, 'incremental_batch', 'first_timestamp')} … {_get(r, 'incremental_batch', 'last_timestamp')}), "
          f"{_int(_get(inc, 'rows_read'))} rows read; {_s(_get(inc, 'ratio'), 3)} × end to end; "
          f"peak RSS tree {_gib(_get(inc, 'measured', 'peak_tree_rss'))}") if inc else "skipped: the full run failed"],
        ["No-op run", _secs_cell(r.get("noop")),
         f"the same command with nothing new; {_s(_get(r, 'noop', 'ratio'), 3)} × end to end"],
        ["Refresh job", _secs_cell(r.get("refresh")),
         (f"`meterhouse run --job refresh` with another {_int(_get(r, 'refresh_batch', 'events'))} events; "
          f"{_int(_get(r, 'refresh', 'rows_read'))} rows read; {_s(_get(r, 'refresh', 'ratio'), 3)} × end to end")
         if r.get("refresh") else "skipped"],
        ["Floor: DuckDB load", _s(_get(floor, "load_s")) + " s",
         f"{_int(_get(floor, 'rows'))} rows into one table ("
         + ", ".join(f"{k} {_s(v['seconds'])} s" for k, v in (_get(floor, 'load_by_format', default={}) or {}).items())
         + f"); {_get(floor, 'threads', default='?')} threads; peak RSS {_gib(_get(floor, 'measured', 'peak_tree_rss'))}"],
        ["Floor: DuckDB scan", _s(_get(floor, "scan_s"), 3) + " s", "`sum(try_cast(properties->>'gb' as double))` over the table"],
    ]  # fmt: skip
    out += _table(["", "time", "detail"], rows, "lrl")
    for name, part in (
        ("Generate", gen),
        ("End to end", full),
        ("Incremental run", inc),
        ("No-op run", r.get("noop")),
        ("Refresh run", r.get("refresh")),
        ("Floor", floor),
    ):
        out += _failure_block(name, _get(part, "failure"))
        orphans = _get(part, "measured", "orphans", default=[])
        if orphans:
            out += [
                "",
                f"**{name}: {len(orphans)} process(es) of its tree outlived it** by "
                f"{_s(_get(part, 'measured', 'orphans_s'))} s (the harness waited for them before "
                "going on; they ran without the run's writer lock):",
                "",
                "```text",
                *orphans,
                "```",
                "",
            ]
    out += ["", "**Where the time goes** (Dagster step durations from the run's event log):", ""]
    out += _steps_table(full, inc)
    kinds = _kind_table(full, inc)
    if kinds:
        out += ["", "**By kind of work** (the same wall times, regrouped):", "", *kinds]
    out += [
        "",
        "**dbt invocations** (from each invocation's `dbt.log` and `run_results.json`; *parse* runs "
        "from dbt's first log line to `Concurrency: N threads`, i.e. loading and parsing the project):",
        "",
    ]
    out += _dbt_table(full, inc, r.get("noop"))
    out += ["", "**5 slowest dbt models** (full run; the same model in the incremental run):", ""]
    out += _top_table(full, inc, ("model", "seed"), 5, "model")
    out += ["", "**3 slowest dbt tests** (full run):", ""]
    out += _top_table(full, inc, ("test", "unit_test"), 3, "test")
    if inc:
        out += [
            "",
            "**5 slowest dbt nodes of the incremental run** (models and tests; what a small batch "
            "still pays for):",
            "",
        ]
        out += _top_table(
            full, inc, ("model", "seed", "test", "unit_test"), 5, "node", by="incremental"
        )
    obs = _observations(r)
    if obs:
        out += ["", "**What dominates**:", "", *obs]
    logs = Path(r.get("dir", "")).name
    out += [
        "",
        f"Logs: `{results['options']['workdir']}/{logs}/` (`run_full.log`, `run_incremental.log`, ...).",
        "",
    ]
    return out


def render_report(results: dict) -> str:
    o = results["options"]
    lines = [
        "# Meterhouse benchmarks",
        "",
        f"Written by `benchmarks/run.py` (`make bench`) on {results['started']} (UTC); "
        f"{'**quick smoke run**, ' if o.get('quick') else ''}"
        f"sizes {', '.join(f'{s:,}' for s in o['sizes'])} events over {o['months']} months, "
        f"{o['customers']:,} customers, seed {o['seed']}, DuckDB memory limit {o['memory_limit']}. "
        f"Raw numbers: `{o['workdir']}/results.json`.",
        "",
    ]
    lines += _machine(results)
    lines += _commands(results)
    lines += _summary(results)
    lines += _contention(results)
    lines += _verdict(results)
    lines += ["## Per size", ""]
    for r in results["sizes"]:
        lines += _per_size(r, results)
    return "\n".join(lines).rstrip() + "\n"
