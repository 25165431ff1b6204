"""The ``dynaclr`` command line."""

import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dynaclr`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    print("dynaclr: training is not implemented yet (see issues 5 and 6).")
    return 0
