"""Machine-learning adapter: LightGBM teacher, linear student, evaluation, model registry, predictors.

Models are stored only as LightGBM text or plain JSON (never pickle) and every file is
verified against a SHA-256 manifest before it is parsed.
"""
