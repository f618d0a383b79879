"""What the benchmarks record about the machine they ran on."""

import platform


def cpu_model():
    """The CPU model name from /proc/cpuinfo (platform.processor() where it cannot be read)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
