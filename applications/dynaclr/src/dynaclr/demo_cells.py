# Moved to dynaclr.demo.simulate, .render and .files, and viscy_data.normalization;
# these re-exports stay for one release.
from dynaclr.demo.files import TRACK_COLUMNS, write_experiments_yaml, write_tracks_csv  # noqa: F401
from dynaclr.demo.render import render_block  # noqa: F401
from dynaclr.demo.simulate import (  # noqa: F401
    EXPERIMENT_STYLES,
    Columns,
    expand_tracks,
    link_observations,
    simulate_fov,
)
from viscy_data.normalization import channel_statistics, quartiles  # noqa: F401
