# trustfn - the two commands: `make run` (local stack on http://127.0.0.1:9000) and `make test`.
SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/trustfn/target
PY := .tools/venv/bin/python

.PHONY: help bootstrap build run watch bench mutants test test-unit test-api lint routes deploy clean

help:
	@echo "make run    - start emulators + every function on http://127.0.0.1:9000 (Ctrl-C stops)"
	@echo "make watch  - the same behind cargo lambda watch (rebuilds functions on change)"
	@echo "make test   - unit tests, route/template checks, black-box API tests"
	@echo "make bench  - cold start, footprint, codec and load benchmarks; writes docs/BENCHMARKS.md"
	@echo "make mutants - mutation testing of the AWS-free service crates (about an hour); reports the caught ratio"
	@echo "make lint   - rustfmt + clippy"
	@echo "make routes - regenerate the watch router, infra/openapi.yaml and infra/events from template.yaml"
	@echo "make deploy - sam build && sam deploy --guided"

bootstrap:
	@bash infra/scripts/bootstrap.sh

build:
	cargo build --workspace

run: bootstrap build
	@$(PY) infra/local/stack.py

watch: bootstrap
	@$(PY) infra/local/stack.py --watch

test: bootstrap test-unit test-api

# Benchmarks (not part of make test: release builds take 10-20 minutes each).
# PARTS="codec coldstart footprint profile load propagation scale audit cost" picks parts (default:
# all of these); PARTS=sambuild (sam build before and after, about two hours) runs only when named.
bench:
	@bash infra/scripts/bootstrap.sh bench
	$(PY) bench/run.py $(PARTS)

# Mutation testing (not part of make test). .cargo/mutants.toml picks the files (the security and
# integrity checks) and the tests run against each mutant; MUTANTS_ARGS adds options, e.g.
# MUTANTS_ARGS="-f shared/status/src/publish.rs" or MUTANTS_ARGS="--shard 0/4"; the publishing
# engine alone: MUTANTS_ARGS="-f 'shared/publish/src/*.rs'".
MUTANT_CRATES := trustfn-domain trustfn-tree trustfn-access trustfn-keys trustfn-certs trustfn-status trustfn-publish
# Mutants build in a target directory of their own: sharing the usual one would let a build of
# the working tree and a build of a mutant overwrite each other's artifacts.
mutants:
	@bash infra/scripts/bootstrap.sh mutants
	CARGO_TARGET_DIR="$(CARGO_TARGET_DIR)/mutants" PATH="$(CURDIR)/.tools/cargo/bin:$$PATH" \
	  cargo mutants --no-shuffle --timeout 60 \
	  $(addprefix -p ,$(MUTANT_CRATES)) $(MUTANTS_ARGS) || true
	$(PY) infra/scripts/mutants_report.py mutants.out

test-unit:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo test --workspace

test-api: bootstrap build
	cd tests/api && ../../$(PY) -m pytest -q -p no:cacheprovider --durations=15

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

routes: bootstrap
	$(PY) infra/scripts/routes.py sync
	$(PY) infra/scripts/openapi.py write
	$(PY) infra/scripts/events.py write

deploy:
	sam build && sam deploy --guided

# sam build (BuildMethod: makefile) calls build-<LogicalId> for each function of template.yaml.
build-%:
	@bash infra/scripts/sam_build.sh $* "$(ARTIFACTS_DIR)"

clean:
	cargo clean
	rm -rf .tools .local
