"""``python -m xpnet`` and the ``xpnet`` console script: the command line.

The command line's modules are imported here, inside a handler, so that a Ctrl-C during
start-up ends like any other interrupt: one line and exit code 130, no traceback.
"""

import sys


def main() -> int:
    """Run ``xpnet`` with ``sys.argv``; the exit code."""
    try:
        from .tools.cli import main as cli_main
    except KeyboardInterrupt:
        print("xpnet: interrupted", file=sys.stderr)
        return 130
    return cli_main()


if __name__ == "__main__":
    raise SystemExit(main())
