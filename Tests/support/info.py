"""The one INFO parser: `field:value` lines, section headers and blank lines dropped."""
from .resp import Error


def info_pairs(text):
    """INFO text (bytes, str or a RESP3 verbatim string) -> [(field, value)] in order."""
    if isinstance(text, bytes):
        text = text.decode()
    return [tuple(line.split(":", 1)) for line in text.split("\r\n") if line and not line.startswith("#")]


def parse_info(text):
    """INFO text -> {field: value}."""
    return dict(info_pairs(text))


def info_text(conn, section):
    reply = conn.cmd("INFO", section)
    if isinstance(reply, Error):
        raise AssertionError("%r: INFO %s: %s" % (conn, section, reply))
    return reply


def info(conn, section):
    """INFO `section` of the server behind `conn` (a connection, or a server process for a
    connection of its own), parsed; an error reply fails the test."""
    return parse_info(info_text(conn, section))


def info_keys(conn, section):
    """The field names of INFO `section` as the server sends them (repeats included)."""
    return [field for field, _ in info_pairs(info_text(conn, section))]
