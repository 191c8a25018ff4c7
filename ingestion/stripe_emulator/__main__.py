"""``python -m ingestion.stripe_emulator --state PATH --port N``: run the emulator in the foreground."""

from __future__ import annotations

import argparse
from pathlib import Path

from .server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m ingestion.stripe_emulator",
        description="A stateful Stripe-compatible HTTP emulator for tests and local runs.",
    )
    parser.add_argument(
        "--state", type=Path, default=None, help="JSON state file (default: in memory)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111, help="0 picks a free port")
    args = parser.parse_args(argv)
    serve(args.state, args.host, args.port)


if __name__ == "__main__":
    main()
