# Moved to dynaclr.cli.inspect; this re-export stays for one release.
from dynaclr.cli.inspect import batch_composition, inspect_main  # noqa: F401
