# Moved to dynaclr.cli.embeddings_writer; this re-export stays for one release.
from dynaclr.cli.embeddings_writer import OBS_COLUMNS, EmbeddingWriter, write_embeddings  # noqa: F401
