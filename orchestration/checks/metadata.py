"""A quality check's report (ingestion.quality) as the metadata of a Dagster asset check result: counts,
each expectation's outcome, a few failing rows per failed expectation and the blockers it made."""

from __future__ import annotations

import dagster as dg

from ingestion.quality import CheckReport

MAX_BLOCKERS_SHOWN = 20


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def report_metadata(report: CheckReport) -> dict[str, dg.MetadataValue]:
    rules = ["| expectation | result | failing rows | observed |", "|---|---|---|---|"]
    for o in report.outcomes:
        rules.append(
            f"| {_cell(o.rule)} | {'pass' if o.success else '**FAIL**'} | {o.unexpected_count} "
            f"| {_cell(o.observed or '')} |"
        )
    metadata: dict[str, dg.MetadataValue] = {
        "scope": dg.MetadataValue.text(report.scope),
        "rows_checked": dg.MetadataValue.int(report.rows_checked),
        "failed_expectations": dg.MetadataValue.int(len(report.failed_rules)),
        "failing_rows": dg.MetadataValue.int(report.failing_rows),
        "expectations": dg.MetadataValue.md("\n".join(rules)),
    }
    examples = {o.rule: o.examples for o in report.failed_rules if o.examples}
    if examples:
        metadata["failing_examples"] = dg.MetadataValue.json(examples)
    if report.blocks_publishing:
        metadata["publish_blockers"] = dg.MetadataValue.int(len(report.failures))
        if report.failures:
            table = ["| blocks | failing | reason |", "|---|---|---|"]
            for f in report.failures[:MAX_BLOCKERS_SHOWN]:
                table.append(
                    f"| {_cell(f.pin.describe())} | {f.failing_rows} | {_cell(f.reason)} |"
                )
            if len(report.failures) > MAX_BLOCKERS_SHOWN:
                table.append(
                    f"| ... {len(report.failures) - MAX_BLOCKERS_SHOWN} more in raw.check_failures | | |"
                )
            metadata["blocked"] = dg.MetadataValue.md("\n".join(table))
    return metadata


def check_result(
    report: CheckReport,
    asset_key: dg.AssetKey,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=report.check_name,
        asset_key=asset_key,
        passed=report.passed,
        severity=severity,
        metadata=report_metadata(report),
        description=report.summary(),
    )
