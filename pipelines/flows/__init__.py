"""The flows room: the only place Prefect is imported. Flows wire the steps as tasks
(caching, retries, runners: local, Dask, Ray) and serve recurring curation.

May import: steps, store, config and reports. (tests/test_import_boundaries.py checks it.)
"""
