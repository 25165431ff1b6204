# Moved to dynaclr.cli.config_reference; this re-export stays for one release.
from dynaclr.cli.config_reference import CLASSES, parameter_docs, render  # noqa: F401
