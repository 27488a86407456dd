"""Start-up: options and config files as redis-server takes them; bad ones fail cleanly."""
import subprocess

import pytest

from support.info import info
from support.marks import SANITIZER_BUILD, needs_jemalloc
from support.processes import BINARY


def run_bad(*args):
    p = subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=20)
    return p.returncode, p.stderr.strip().splitlines()


def test_bad_option_value_is_one_line_and_exit_1():
    code, lines = run_bad("--port", "abc")
    assert code == 1 and len(lines) == 1
    assert "port" in lines[0] and "integer" in lines[0]


def test_unknown_option_is_one_line_and_exit_1():
    code, lines = run_bad("--no-such-option", "1")
    assert code == 1 and len(lines) == 1 and "no-such-option" in lines[0]


def test_missing_config_file_fails():
    code, lines = run_bad("/nonexistent/valkeyper.conf")
    assert code == 1 and len(lines) == 1 and "/nonexistent/valkeyper.conf" in lines[0]


def test_config_file_then_command_line_overrides(make_server, tmp_path):
    conf = tmp_path / "v.conf"
    conf.write_text('# comment\nport 1\nmaxclients 123\nsave ""\nhz 20\n')
    c = make_server(config_file=conf, data_dir=tmp_path).conn()
    assert c.cmd("CONFIG", "GET", "maxclients") == [b"maxclients", b"123"]
    assert c.cmd("CONFIG", "GET", "hz") == [b"hz", b"20"]
    assert c.cmd("CONFIG", "GET", "save") == [b"save", b""]
    c.close()


def test_bad_line_in_config_file_names_it(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("port 6379\nmaxclients lots\n")
    code, lines = run_bad(str(conf))
    assert code == 1 and len(lines) == 1
    assert "bad.conf:2" in lines[0] and "maxclients" in lines[0]


def test_info_reports_versions(make_server):
    s = make_server()
    c = s.conn()
    info = str(c.cmd("INFO", "server"))
    assert "redis_version:7.0.15" in info and "valkeyper_version:" in info


@needs_jemalloc
def test_jemalloc_serves_malloc(make_server):
    memory = str(make_server().conn().cmd("INFO", "memory"))
    assert "mem_allocator:jemalloc-5" in memory


@pytest.mark.skipif(not SANITIZER_BUILD, reason="only sanitizer builds (VALKEYPER_SANITIZE=1) leave jemalloc out")
def test_sanitizer_build_reports_libc_allocator(make_server):
    """Without jemalloc the server says libc, as redis-server built without it does, and
    used_memory is the sanitizer allocator's count, not the resident size."""
    memory = info(make_server().conn(), "memory")
    assert memory["mem_allocator"] == "libc"
    # ThreadSanitizer's shadow memory is resident too: far more than what is allocated.
    assert int(memory["used_memory"]) * 2 < int(memory["used_memory_rss"])
