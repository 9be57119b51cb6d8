"""Client-side mass fits: BW⊗CB (zfit), η-shift, per-|η| resolution (thesis §5.6, app. 9).

Importing this package is cheap; zfit/TensorFlow are only loaded by the submodules that need
them (``breit_wigner_cb``, ``fitter``, ``pipeline``). Processors must never import it.
"""

from __future__ import annotations

import os

# TensorFlow/zfit chatter on import hides real messages in the CLI and tests.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("ZFIT_DISABLE_TF_WARNINGS", "1")
