# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Both create .venv from the pinned dependency set in constraints.txt when needed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_ARGS ?=

.PHONY: venv system-packages test test-fast demo docs bench reliability clean

venv: $(STAMP)

# sshd and friends: installed when missing and we are root, otherwise named in one line
system-packages:
	@scripts/system-packages

$(STAMP): constraints.txt setup.py pyproject.toml
# compat: the editable install is a plain path in a .pth; the default import hook costs every
# Python start of the tests (hundreds of simulated tools per build) about 12 ms
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test,docs,demo]' \
		--config-settings editable_mode=compat
	touch $(STAMP)

# pytest-xdist workers: more than the two cores pay, since many tests wait on simulated timers,
# subprocesses and masters; TEST_WORKERS=0 runs every test in one process
TEST_WORKERS ?= 4
XDIST := -n $(TEST_WORKERS) --dist loadgroup
# the tests start hundreds of Python processes of this project: compile each module once
# (an environment that sets PYTHONDONTWRITEBYTECODE recompiles it in every one)
test test-fast: export PYTHONDONTWRITEBYTECODE=

# $(call pytest_in,NAME,ARGS): pytest with its scratch directory on a RAM filesystem when there
# is one (scripts/test-basetemp); removed after a run that passed, kept after one that failed
pytest_in = bt=$$(scripts/test-basetemp $(1)); $(PY) -m pytest $$bt $(2) \
	&& { [ -z "$$bt" ] || rm -rf "$${bt\#--basetemp=}"; }

test: system-packages venv
	$(call pytest_in,test,$(XDIST) $(PYTEST_ARGS))

# everything but the tests marked integration (real masters, workers, sshd)
test-fast: system-packages venv
	$(call pytest_in,test-fast,$(XDIST) -m "not integration" $(PYTEST_ARGS))

# the load and fault suite: 8 builds on 2 simulated hosts, a worker and a master SIGKILLed
reliability: system-packages venv
	$(call pytest_in,reliability,-s -m reliability tests/reliability $(PYTEST_ARGS))

demo: system-packages venv
	$(VENV)/bin/vkckpt demo $(DEMO_ARGS)

docs: venv
	$(VENV)/bin/sphinx-build -W -q -b html docs docs/_build/html

bench: venv
	for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) docs/_build build *.egg-info .pytest_cache
