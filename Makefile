# The two commands: `make sandbox` and `make test`.
SHELL := /bin/bash
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: sandbox sandbox-clean test test-trixie lint unit molecule molecule-trixie molecule-step image venv docker bench bench-backup

$(VENV)/.installed: requirements.txt requirements-test.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -r requirements-test.txt
	touch $@

venv: $(VENV)/.installed

# The Galaxy importer in a venv of its own (scripts/check-collection.sh).
IMPORTER := .venv-importer
$(IMPORTER)/.installed: requirements-importer.txt
	python3 -m venv $(IMPORTER)
	$(IMPORTER)/bin/pip install -q -r requirements-importer.txt
	touch $@

docker:
	./scripts/ensure-docker.sh

image: docker
	./scripts/build-image.sh bookworm

sandbox: venv
	./scripts/sandbox.sh

sandbox-clean:
	./scripts/sandbox-clean.sh

# A copy of this collection under ~/.ansible (left by an older molecule
# prerun) would shadow the checkout: the tools must see the code as it is.
STALE_COPY := $(HOME)/.ansible/collections/ansible_collections/pgha/cloud

lint: venv $(IMPORTER)/.installed
	rm -rf $(STALE_COPY)
	yamllint .
	ansible-lint --profile production
	ruff check plugins tests scripts tools roles
	cd collections/ansible_collections/pgha/cloud && antsibull-changelog lint
	./scripts/check-collection.sh
	./scripts/sanity.sh

unit: venv
	pytest -q -n 2 tests/unit

molecule: venv docker
	rm -rf $(STALE_COPY)
	PGHA_IMAGE="$$(./scripts/build-image.sh bookworm)" molecule test -s default

# Debian 13 (PostgreSQL 17): deploy, re-run, verify and the drills on an image
# of its own (molecule/trixie). CI's second step, after `make test`.
molecule-trixie: venv docker
	rm -rf $(STALE_COPY)
	PGHA_IMAGE="$$(./scripts/build-image.sh trixie)" molecule test -s trixie

# One concern on its own, on a converged and verified cluster (made or re-converged first;
# the steps read the rows verify.yml writes),
# with the checks `make test` leaves out for time (add_replica.yml re-run):
#   make molecule-step STEP=failover   (secrets, operations, scale, failover,
#   vip, backup, clone, standby, etcd-membership, remove; STEP=verify runs the verify playbook)
# The containers stay up; `molecule destroy` removes them.
STEPS := secrets operations scale failover vip backup clone standby etcd-membership remove
molecule-step: venv docker
	@case " $(STEPS) verify " in *" $(STEP) "*) ;; *) echo "STEP must be one of: $(STEPS) verify" >&2; exit 2;; esac
	rm -rf $(STALE_COPY)
	export PGHA_IMAGE="$$(./scripts/build-image.sh bookworm)" && molecule converge -s default && \
	molecule verify -s default && \
	if [ "$(STEP)" != verify ]; then PGHA_SIDE_EFFECT=$(STEP).yml PGHA_MOLECULE_THOROUGH=yes molecule side-effect -s default; fi

# Each part's duration is printed at the end (scripts/run-parts.sh); lint and the unit
# tests run side by side (lint+unit).
test: venv
	./scripts/run-parts.sh lint+unit molecule

test-trixie: venv
	./scripts/run-parts.sh molecule-trixie

# Not part of `make test`: failover drills on the sandbox for the default,
# fast and Patroni-stock configurations, a cold deploy, a re-run and pgbench
# (tens of minutes). Options: make bench BENCH_ARGS="--repeat 5 --skip-cold".
bench: venv docker
	$(VENV)/bin/python tools/pgha_bench.py $(BENCH_ARGS)

# Not part of `make test`: pgBackRest on a converged cluster that is already
# running (default: the molecule containers pgha-m-1..3, pg-test): backup,
# restore against a disk copy, replica from the repository against
# pg_basebackup, archive lag under pgbench.
# Options: make bench-backup BENCH_BACKUP_ARGS="--scale 20 --duration 30".
bench-backup: venv
	$(VENV)/bin/python tools/pgha_bench_backup.py $(BENCH_BACKUP_ARGS)
