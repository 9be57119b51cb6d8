"""Running processors: coffea's ``Runner`` with the iterative, futures and dask executors
(:mod:`.runner`), the dask clusters (:mod:`.clusters`) and the worker memory set-up
(:mod:`.memory`)."""
