"""Import TensorFlow and zfit without their start-up noise on stderr.

TensorFlow's C++ runtime writes absl log lines while its libraries load (``WARNING: All log
messages before absl::InitializeLog() ...``, ``I0000 ... oneDNN custom operations are on``,
``Could not find cuda drivers``, ``Unable to register cuDNN factory``), before any Python
setting or ``TF_CPP_MIN_LOG_LEVEL`` can reach them. :func:`import_tensorflow` imports both
packages with file descriptor 2 pointed at a temporary file, then writes back to stderr every
captured line that is not such start-up noise (nothing else is lost). Set
``CALOCOFFEA_TF_VERBOSE=1`` to see everything.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile

#: Start-up lines dropped from the captured stderr.
NOISE = re.compile(
    r"All log messages before absl::InitializeLog|oneDNN custom operations|"
    r"cudart_stub|Could not find cuda drivers|Unable to register cu(DNN|FFT|BLAS) factory|"
    r"computation_placer|This TensorFlow binary is optimized|TF-TRT Warning|"
    r"rebuild TensorFlow with the appropriate compiler flags|cuda_executor|"
    r"failed call to cuInit|Attempting to register factory"
)


def import_tensorflow() -> None:
    """Import ``tensorflow`` and ``zfit`` (once per process) without start-up noise."""
    if "zfit" in sys.modules or os.environ.get("CALOCOFFEA_TF_VERBOSE"):
        import zfit

        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
            import zfit  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode(errors="replace")
            kept = [line for line in text.splitlines() if line.strip() and not NOISE.search(line)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")
    # Python-side TensorFlow logger (absl): warnings and above only
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
