"""Strategy optimisation (spec US-019): search spaces, objectives, trials on Dask, artifacts."""
