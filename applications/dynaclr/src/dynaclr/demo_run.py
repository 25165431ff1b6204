# Moved to dynaclr.demo.cache; this re-export stays for one release.
from dynaclr.demo.cache import DEMO_VERSION, cache_dir, ensure_demo_dataset  # noqa: F401
