"""What the integration tests share: the RESP client, the server launcher, INFO parsing,
keyspace dumps and comparison, replication waits, background writers. Fixtures built on
these live in Tests/conftest.py; test modules import helpers from here, never from each
other."""
