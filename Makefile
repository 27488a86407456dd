# The two commands of the README:
#   make run    build (release) and start the server on embedded defaults (port 6379, data in .)
#   make test   install test peers, build, and run every test (unit, integration, interop)
# And, not part of `make test` (too slow for CI's budget):
#   make tsan   the unit tests and the integration suite under ThreadSanitizer (scripts/tsan.sh)
SWIFT ?= swift
ARGS ?=

.PHONY: run build test unit integration setup fuzz tsan

setup:
	@scripts/setup.sh

build: setup
	$(SWIFT) build -c release --product valkeyper-server

run: build
	exec .build/release/valkeyper-server $(ARGS)

test:
	@scripts/setup.sh --test
	$(SWIFT) build -c release --product valkeyper-server
	$(SWIFT) test
	VALKEYPER_TEST_SHARDS=1 python3 -m pytest -q Tests/integration
	python3 -m pytest -q Tests/integration Tests/interop

# The replication fuzz test alone (it also runs once in `make test`, in the two-shard pass):
#   make fuzz FUZZ_SECONDS=300 [FUZZ_SEED=1234]
FUZZ_SECONDS ?= 45
fuzz:
	VALKEYPER_FUZZ_SECONDS=$(FUZZ_SECONDS) VALKEYPER_FUZZ_SEED=$(FUZZ_SEED) \
		python3 -m pytest -q -s Tests/integration/test_replication_fuzz.py

unit:
	$(SWIFT) test

integration:
	python3 -m pytest -q Tests/integration Tests/interop

# A debug build with ThreadSanitizer in .build-tsan (VALKEYPER_SANITIZE=1: without jemalloc),
# its unit tests, then the integration and interop suites against its server; fails on any
# report. TSAN_ARGS picks pytest arguments: make tsan TSAN_ARGS=Tests/integration/test_keys.py
TSAN_ARGS ?=
tsan:
	@scripts/setup.sh --test
	SWIFT=$(SWIFT) scripts/tsan.sh $(TSAN_ARGS)
