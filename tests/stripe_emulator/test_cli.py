"""`meterhouse stripe-emulator`: the server an operator starts by hand, state kept under DIR."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from ingestion.stripe_emulator import client_for

MH = str(Path(sys.executable).parent / "meterhouse")


def _start(data_dir: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [MH, "stripe-emulator", "--data-dir", str(data_dir), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
    assert match, line
    return proc, match.group(1)


def test_the_cli_serves_the_sdk_and_keeps_state_under_dir(tmp_path):
    proc, url = _start(tmp_path)
    try:
        customer = client_for(url).v1.customers.create(
            params={"metadata": {"meterhouse_customer_id": "c1"}}
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert (tmp_path / "stripe_emulator.json").exists()
    proc, url = _start(tmp_path)  # a second start sees what the first one wrote
    try:
        again = client_for(url).v1.customers.retrieve(customer.id)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert again.metadata["meterhouse_customer_id"] == "c1"
