"""Evaluation: standard IR metrics (:mod:`metrics`), question sets and benchmarks
(:mod:`datasets`), runs through the service (:mod:`runner`) and their reports
(:mod:`report`). ``qa eval`` and ``make eval`` use it."""
