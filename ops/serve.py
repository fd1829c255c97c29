"""`make run`: serve the app with uvicorn (the default: it measures fastest, docs/PERFORMANCE.md) or
daphne, replacing this process with the server.

python -m ops.serve [--server uvicorn|daphne] [--host H] [--port P]
"""

from __future__ import annotations

import argparse
import os

from ops.processes import SERVERS, server_command


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server", choices=SERVERS, default="uvicorn")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    command = server_command(args.server, args.port, host=args.host)
    os.execv(command[0], command)  # noqa: S606 (our own server's command line)


if __name__ == "__main__":
    main()
