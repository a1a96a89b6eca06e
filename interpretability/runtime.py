"""Settings of the processes that run recipes on CPU.

glibc's allocator hands large blocks back to the system when they are freed and faults them in again on the next
allocation: a training step of the compact CNN frees and reallocates its activation buffers every time, which cost
the demo 220 s of system time. ``ALLOCATOR_ENV``, in the environment of a process when it starts, keeps blocks of
up to 32 MiB in the process (about 9 % less time per L-MAC training step on 2 cores; demo system time 24 s).
"""

ALLOCATOR_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(32 * 2**20),
    "MALLOC_TRIM_THRESHOLD_": str(2**31),
}


def with_allocator_settings(environment):
    """``environment`` (a mapping) with :data:`ALLOCATOR_ENV` added where it does not set them itself.

    Example
    -------
    >>> env = with_allocator_settings({"MALLOC_TRIM_THRESHOLD_": "0"})
    >>> env["MALLOC_TRIM_THRESHOLD_"], env["MALLOC_MMAP_THRESHOLD_"]
    ('0', '33554432')
    """
    return {**ALLOCATOR_ENV, **environment}
