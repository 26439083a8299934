"""Energy: meters that measure what a job used (RAPL, NVML), each labelled with its source."""
