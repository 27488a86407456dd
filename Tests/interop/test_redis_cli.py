"""A scripted redis-cli session (the tool users reach for first)."""
import subprocess


def cli(server, *args, stdin=None):
    p = subprocess.run(["redis-cli", "-p", str(server.port), *args], input=stdin,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_scripted_session(server):
    script = "\n".join([
        "FLUSHALL",
        "SET greeting hello",
        "GET greeting",
        "SET counter 10",
        "DEL greeting counter missing",
        "GET greeting",
        "PING",
        "ECHO \"two words\"",
        "DBSIZE",
    ]) + "\n"
    out = cli(server, stdin=script)
    assert out.splitlines() == ["OK", "OK", "hello", "OK", "2", "", "PONG", "two words", "0"]


def test_command_line_and_resp3(server):
    assert cli(server, "SET", "k", "v").strip() == "OK"
    assert cli(server, "--no-raw", "GET", "nothing").strip() == "(nil)"
    assert cli(server, "-3", "--no-raw", "GET", "nothing").strip() == "(nil)"
    assert cli(server, "-3", "HELLO", "3").count("proto") == 1
    assert "redis_version:7." in cli(server, "INFO", "server")


def test_errors_are_shown(server):
    out = cli(server, "--no-raw", "GET")
    assert "ERR wrong number of arguments for 'get' command" in out
