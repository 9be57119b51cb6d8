"""The DeepCalo CNN calibration: cluster images from cells (:mod:`.images`), the network's
inputs (:mod:`.inputs`), onnxruntime inference (:mod:`.inference`) and the training code
(:mod:`.training`, optional ``train`` extra)."""
