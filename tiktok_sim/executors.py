"""Where an experiment's tasks can run: named apart from the runner, so the command line offers them cheaply."""

EXECUTORS = ("serial", "process", "dask")
