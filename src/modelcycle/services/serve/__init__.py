"""Serving: online endpoints and batch scoring of a loaded model.

Batch scoring (``serve.batch.score_batch``) streams Arrow batches through a model in chunks,
locally or on any ``concurrent.futures.Executor`` (``serve.executors.open_executor`` opens one,
possibly on a Dask cluster).
"""
