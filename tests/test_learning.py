"""DynaCLR learns: after a small budget on the demo, held-out cells show it."""

import pytest

from dynaclr.evaluation import train_and_compare


@pytest.mark.slow
def test_trained_encoder_beats_random_init_on_held_out_cells(tmp_path):
    result = train_and_compare(tmp_path, epochs=4, seed=0)
    trained, random = result["trained"], result["random"]
    # The hidden infection state is more linearly readable after training ...
    assert trained["probe_accuracy"] > random["probe_accuracy"] + 0.03, result
    assert trained["probe_accuracy"] > trained["chance"] + 0.1, result
    # ... and consecutive frames of a track lie closer than random pairs of cells.
    assert trained["smoothness"] < 0.9, result
