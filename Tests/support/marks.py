"""Marks for what a test needs from the machine."""
import os

import pytest

from .processes import REDIS_SERVER

needs_redis = pytest.mark.skipif(REDIS_SERVER is None, reason="needs Debian's redis-server 7.0")

# `make tsan` runs the suite against a ThreadSanitizer build, which leaves jemalloc out
# (VALKEYPER_SANITIZE=1, see Package.swift); everywhere else jemalloc must serve malloc.
SANITIZER_BUILD = os.environ.get("VALKEYPER_SANITIZE") == "1"
needs_jemalloc = pytest.mark.skipif(SANITIZER_BUILD, reason="jemalloc is not linked in sanitizer builds "
                                    "(VALKEYPER_SANITIZE=1)")
