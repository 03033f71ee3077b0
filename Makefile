# The two set-up commands of the README:
#   make run    install into .venv and run a node on the embedded defaults
#   make test   install into .venv (with test extras) and run every test
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CONFIG ?= examples/cocaine.json

.PHONY: install install-test run test bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# editable_mode=compat puts this checkout on sys.path, which is what lets
# twistd find twisted/plugins/cocaine_plugin.py; setuptools warns that the
# mode is transitional, which PYTHONWARNINGS keeps out of the output.
PIP_INSTALL := PYTHONWARNINGS=ignore $(PY) -m pip install --quiet \
	--config-settings editable_mode=compat

install: $(PY)
	$(PIP_INSTALL) -e .
	$(PY) -c "from twisted.plugin import IPlugin, getPlugins; import twisted.plugins, services, drivers; [list(getPlugins(IPlugin, p)) for p in (twisted.plugins, services, drivers)]"

install-test: install
	$(PIP_INSTALL) -e '.[test]'

run: install
	$(VENV)/bin/twistd --pidfile= -n cocaine --config $(CONFIG)

test: install-test
	$(PY) -m tests

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) _trial_temp var build *.egg-info cocaine/protocol/framing.c
	find cocaine -name "*.so" -delete
