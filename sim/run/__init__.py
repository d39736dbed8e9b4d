"""``simulate``: every alternative over the same tasks, cut into chunks that run in this process, a process
pool or a Dask cluster, optionally until a precision is reached. Imports ``engine``, ``stats``, ``spec``,
``core``.
"""
