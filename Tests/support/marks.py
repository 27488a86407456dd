"""Marks for what a test needs from the machine."""
import pytest

from .processes import REDIS_SERVER

needs_redis = pytest.mark.skipif(REDIS_SERVER is None, reason="needs Debian's redis-server 7.0")
