"""The shipped models (ONNX graphs and their JSON model cards), installed as the package data
``calocoffea.models``; :func:`calocoffea.resources.models_dir` finds them."""
