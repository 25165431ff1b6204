"""``python -m dynaclr.cli``: the ``dynaclr`` command."""

import sys

from dynaclr.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
