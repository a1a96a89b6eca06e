"""Settings of the processes that run recipes on CPU, and the CPU a result was taken on.

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


def cpu_model():
    """The CPU's model name (``/proc/cpuinfo``), or the architecture where it cannot be read. Trained models and
    their scores move with the machine's floating-point kernels, so a run's report names its CPU.

    Example
    -------
    >>> isinstance(cpu_model(), str) and len(cpu_model()) > 0
    True
    """
    import platform

    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"
