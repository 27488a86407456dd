"""Moved to Tests/support/resp.py: this name stays only until every module imports it from there."""
from support.resp import *  # noqa: F401,F403
