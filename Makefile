# hardened.redis: developer and CI entry points.
#   make lab        build what it needs and deploy onto local Docker hosts
#   make test       everything CI runs (installs what it needs first)
# Fast parts: make units | integration | lint | sanity | rules | molecule SCENARIO=default
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV        := .venv
BIN         := $(CURDIR)/$(VENV)/bin
BUILD       := $(CURDIR)/.build
COLLECTIONS := $(BUILD)/collections
# ansible-test lists a collection's files with git when it sits in a git work
# tree (and .build is ignored there), so its copy of the artifact lives outside.
SANITY_ROOT := $(or $(TMPDIR),/tmp)/hardened-redis-sanity
VERSION     := $(shell sed -n 's/^version: *//p' galaxy.yml)
TARBALL     := $(BUILD)/hardened-redis-$(VERSION).tar.gz
SCENARIOS   ?= default sentinel sentinel-valkey backup rolling tls chaos
SCENARIO    ?= default
PYTEST_ARGS ?=

# Everything that runs Ansible uses the collection as built and installed
# from the tarball, so a file missing from the build fails a test. The
# `ansible` package in the venv provides community.docker and friends.
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS):$(CURDIR)/$(VENV)/lib/python3.11/site-packages
export HARDENED_REDIS_COLLECTIONS := $(COLLECTIONS)
export ANSIBLE_PIPELINING := True
# Molecule and ansible-compat call ansible-config and friends by name.
export PATH := $(BIN):$(PATH)
export ANSIBLE_FORCE_COLOR := 0
export PY_COLORS := 0

.PHONY: help deps build images lint ansible-lint sanity rules units integration molecule molecules test lab lab-destroy bench-converge bench-backup clean
# `make help` names every target; keep it in step when adding one.

help:
	@echo "Tests:       make test (= deps build, then lint units integration side by side, then molecules) | deps | build | lint (= ansible-lint sanity rules)"
	@echo "             make ansible-lint | sanity | rules | units | integration | molecule SCENARIO=name | molecules | images"
	@echo "Lab:         make lab | lab-destroy | lab-drill | clean"
	@echo "Benchmarks:  make bench-converge | bench-backup | bench-hardening | bench-failover | bench-endpoint | bench-clients | security-report | reliability"

# VM=N (N > 0), or the vm scenario among SCENARIO or SCENARIOS: also qemu for the virtual machines.
deps:
	@HARDENED_REDIS_VM=$(if $(or $(filter-out 0,$(VM)),$(filter vm,$(SCENARIO) $(SCENARIOS))),1,0) bash tests/lab/install-deps.sh

# The collection as users get it: build the tarball, install it offline.
build: deps
	@rm -rf $(BUILD)/collections $(BUILD)/*.tar.gz && mkdir -p $(BUILD)
	$(BIN)/ansible-galaxy collection build --force --output-path $(BUILD) . >/dev/null
	$(BIN)/ansible-galaxy collection install --offline --force -p $(COLLECTIONS) $(TARBALL) >/dev/null
	@echo "[build] installed $(notdir $(TARBALL)) into $(COLLECTIONS)"

images: deps
	@bash tests/lab/build-image.sh bookworm >/dev/null
	@bash tests/lab/build-image.sh trixie >/dev/null

ansible-lint: build
	$(BIN)/ansible-lint --offline

# ansible-test runs on the installed artifact: what ships is what is checked.
sanity: build
	@rm -rf $(SANITY_ROOT) && mkdir -p $(SANITY_ROOT)
	$(BIN)/ansible-galaxy collection install --offline --force -p $(SANITY_ROOT) $(TARBALL) >/dev/null
	cd $(SANITY_ROOT)/ansible_collections/hardened/redis && $(BIN)/ansible-test sanity --venv --python 3.11 --color no

# The Prometheus rules as shipped (in the installed artifact): promtool from
# Debian's prometheus package checks them and runs their unit tests.
RULES_ROOT := $(COLLECTIONS)/ansible_collections/hardened/redis
rules: build
	cd $(RULES_ROOT) && promtool check rules roles/redis_exporter/files/hardened-redis.rules.yml
	cd $(RULES_ROOT) && promtool test rules tests/prometheus/hardened-redis.rules.test.yml

lint: ansible-lint sanity rules

units: build
	$(BIN)/pytest -q -p no:cacheprovider tests/unit $(PYTEST_ARGS)

# The integration tests mostly wait on real Sentinels and servers: they run
# in WORKERS pytest-xdist processes (each with its own slice of ports).
WORKERS ?= 3
integration: build
	$(BIN)/pytest -q -p no:cacheprovider -n $(WORKERS) tests/integration $(PYTEST_ARGS)

# Each scenario's output goes to $(LOGS)/molecule-NAME.log; when stdout is
# not a terminal (CI) it is printed whole when the scenario ends, so lanes
# that run side by side stay readable. Each scenario's time is printed; a
# failed scenario stops its lane.
LOGS := $(BUILD)/logs
molecule: build images
	@export HARDENED_REDIS_IMAGE_BOOKWORM=$$(bash tests/lab/build-image.sh bookworm) ; \
	export HARDENED_REDIS_IMAGE_TRIXIE=$$(bash tests/lab/build-image.sh trixie) ; \
	rm -rf $$HOME/.ansible/collections/ansible_collections/hardened .ansible/collections/ansible_collections/hardened ; \
	$(BIN)/ansible-galaxy collection list hardened.redis 2>/dev/null | grep -E '^# /|^hardened' ; \
	mkdir -p $(LOGS) ; \
	for s in $(SCENARIO); do \
	  echo "[molecule] scenario $$s started at $$(date +%T)"; start=$$(date +%s); rc=0; \
	  if [ -t 1 ]; then $(BIN)/molecule test -s $$s 2>&1 | tee $(LOGS)/molecule-$$s.log || rc=$$?; \
	  else $(BIN)/molecule test -s $$s > $(LOGS)/molecule-$$s.log 2>&1 || rc=$$?; cat $(LOGS)/molecule-$$s.log; fi; \
	  echo "[molecule] scenario $$s $$( [ $$rc = 0 ] && echo passed || echo FAILED) in $$(( $$(date +%s) - start )) s"; \
	  [ $$rc = 0 ] || exit $$rc; \
	done

# Two lanes of scenarios run side by side on the two cores (LANES=1: one
# after another). The scenarios are mostly Ansible, so mostly CPU; a third
# lane made each about twice as slow, so two it is. The lanes are balanced
# by the times measured side by side in a rehearsal of make test (fresh
# clone, images cached, the roles' fast path in): tls 30 min, sentinel 17.5,
# default 13, sentinel-valkey 11, rolling about 10, backup 6, chaos 6; the
# longest first. A scenario named in SCENARIOS but in neither list joins
# lane 2. The two Sentinel scenarios share lane 1, one after the other. The
# vm scenario (a guest under software emulation: 14.4 minutes on its own
# with its image built, 38 beside two other scenarios before the fast
# path) is not in SCENARIOS: make molecule SCENARIO=vm.
LANES ?= 2
LANE_1 := $(filter $(SCENARIOS),sentinel sentinel-valkey rolling chaos)
LANE_2_ORDER := $(filter $(SCENARIOS),tls default backup)
LANE_2 := $(LANE_2_ORDER) $(filter-out $(LANE_1) $(LANE_2_ORDER),$(SCENARIOS))
molecules: build images
ifeq ($(LANES),1)
	$(MAKE) --no-print-directory -o deps -o build -o images molecule SCENARIO="$(SCENARIOS)"
else
	$(MAKE) --no-print-directory -j2 molecule-lane-1 molecule-lane-2
endif

.PHONY: molecule-lane-1 molecule-lane-2
molecule-lane-1 molecule-lane-2:
	$(if $(LANE_$(subst molecule-lane-,,$@)),$(MAKE) --no-print-directory -o deps -o build -o images molecule SCENARIO="$(LANE_$(subst molecule-lane-,,$@))",@true)

# Lint is CPU-bound and the integration tests mostly wait on real servers, so
# they share the two cores (-O: each stage's output in one piece as it ends).
test: deps
	$(MAKE) --no-print-directory -j2 -O lint units integration
	$(MAKE) --no-print-directory molecules
	@echo "[test] all stages passed"

# VM=N: the first N hosts are Debian virtual machines (qemu, tests/lab/vm/).
lab: build images
	@LAB_VMS=$(or $(VM),0) bash tests/lab/lab.sh up

lab-destroy:
	@LAB_VMS=$(or $(VM),0) bash tests/lab/lab.sh down

# Benchmarks print tables; they are never part of `make test`.
# HOSTS="3 6 9" (lab sizes), RUNS=1 (runs per size).
bench-converge: build images
	@WRITE_DOCS=1 RUNS=$(or $(RUNS),1) HOSTS="$(or $(HOSTS),3 6 9)" bash bench/converge.sh

bench-backup: build
	$(BIN)/python bench/backup.py --gb $(or $(GB),1.0) --runs $(or $(RUNS),3) --write-docs

# The attack suite and TLS end to end (molecule tls) rendered as
# docs/security.md: attack, expected, observed, pass; date and machine.
.PHONY: security-report
security-report: build images
	rm -rf $$HOME/.ansible/collections/ansible_collections/hardened .ansible/collections/ansible_collections/hardened
	$(BIN)/python bench/security.py

# redis-benchmark SET/GET against the hardened node (plaintext and TLS) and
# Debian's stock config, one container of its own; EXPLAIN=1 adds servers that
# differ from stock by one setting. Writes its section of docs/benchmarks.md.
.PHONY: bench-hardening
bench-hardening: build images
	$(BIN)/python bench/hardening.py --runs $(or $(RUNS),3) $(if $(EXPLAIN),--explain) --write-docs

# One kill -9 of the master in the running lab (make lab) while a writer runs:
# the timeline (detection, promotion, writes resumed, rejoin) and writes lost.
.PHONY: lab-drill bench-failover
lab-drill:
	$(BIN)/python bench/failover.py drill

# KILLS kills and SWITCHOVERS switchovers per Sentinel profile on a lab of its
# own; writes docs/benchmarks.md and docs/failover-latency.png (matplotlib).
bench-failover: build images
	$(BIN)/pip install -q -r bench/requirements.txt
	$(BIN)/python bench/failover.py bench --kills $(or $(KILLS),20) --switchovers $(or $(SWITCHOVERS),5) --write-docs

# KILLS kills and SWITCHOVERS switchovers under a writer that connects only
# through the endpoint for URL-only clients (roles/redis_endpoint), on a lab
# of its own; prints the outage table (docs/clients.md).
.PHONY: bench-endpoint
bench-endpoint: build images
	$(BIN)/python bench/endpoint.py --kills $(or $(KILLS),5) --switchovers $(or $(SWITCHOVERS),5)

# Real client drills (Celery/kombu, Node.js ioredis, Django django-redis) through
# KILLS kills and SWITCHOVERS switchovers on a lab of their own; writes the
# table into docs/clients.md (bench/clients.py; --use-lab: the make lab lab).
.PHONY: bench-clients
bench-clients: build images
	$(BIN)/python bench/clients.py --kills $(or $(KILLS),3) --switchovers $(or $(SWITCHOVERS),2) --write-docs

# The chaos scenario as a report: `molecule test -s chaos`, then
# docs/reliability.md rewritten from the rows its tests wrote (bench/reliability.py).
.PHONY: reliability
reliability: build images
	export HARDENED_REDIS_IMAGE_BOOKWORM=$$(bash tests/lab/build-image.sh bookworm) ; \
	export HARDENED_REDIS_IMAGE_TRIXIE=$$(bash tests/lab/build-image.sh trixie) ; \
	rm -rf $$HOME/.ansible/collections/ansible_collections/hardened .ansible/collections/ansible_collections/hardened ; \
	$(BIN)/python bench/reliability.py

clean: lab-destroy
	rm -rf $(BUILD) tests/output
