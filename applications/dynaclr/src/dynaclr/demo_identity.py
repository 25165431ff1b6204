# Moved to dynaclr.demo.identity; this re-export stays for one release.
from dynaclr.demo.identity import *  # noqa: F403
