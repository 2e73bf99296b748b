"""The single-machine engines bench/assign.py runs against gridlink, each a module with
``run(inputs, k, tolerance_m, srid) -> DataFrame`` (see bench/peers/sql_job.py
:func:`~bench.peers.sql_job.finish` for the columns)."""
