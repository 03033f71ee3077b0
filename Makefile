# The two set-up commands of the README:
#   make run    install into .venv and run a node on the embedded defaults
#   make test   install into .venv (with test extras) and run every test
# The interpreter .venv is made from, unless PYTHON names one: the
# distribution's /usr/bin/python3 when it can make a virtualenv, has its
# headers (the framing decoder is compiled against them) and is a Python
# 3.x at least as recent as the python3 on PATH (3.11.2 counts as 3.11),
# else that python3. Debian, Ubuntu and Fedora build theirs with
# profile-guided and link-time optimisation; a node on it serves about a
# fifth more requests a second, at a fifth less CPU a request, than on a
# build without them such as pyenv's default (docs/performance.md, "The
# interpreter's build"). An existing .venv is kept: rm -rf .venv to make
# it again.
SYSTEM_PYTHON ?= /usr/bin/python3
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell minor() { "$$1" -c 'import ensurepip, os, sys, sysconfig, venv; \
	assert os.path.exists(os.path.join(sysconfig.get_path("include"), "Python.h")); \
	print("%d%03d" % sys.version_info[:2])' 2>/dev/null; }; \
	system=$$(minor $(SYSTEM_PYTHON)); path=$$(minor python3); \
	if [ -n "$$system" ] && [ "$$system" -ge "$${path:-0}" ]; then \
	echo $(SYSTEM_PYTHON); else echo python3; fi)
endif
VENV ?= .venv
PY := $(VENV)/bin/python
CONFIG ?= examples/cocaine.json

.PHONY: install install-test run test bench clean

$(PY):
	@echo "making $(VENV) with $(PYTHON) ($$($(PYTHON) -c 'import sys; print(sys.version.split()[0])'))"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# editable_mode=compat puts this checkout on sys.path, which is what lets
# twistd find twisted/plugins/cocaine_plugin.py; setuptools warns that the
# mode is transitional, which PYTHONWARNINGS keeps out of the output.
PIP_INSTALL := PYTHONWARNINGS=ignore $(PY) -m pip install --quiet \
	--config-settings editable_mode=compat

# Each install builds the compiled modules once (cocaine/compiled.py):
# install-test installs the package with its test extras in one go.
PLUGINS := $(PY) -c "from twisted.plugin import IPlugin, getPlugins; import twisted.plugins, services, drivers; [list(getPlugins(IPlugin, p)) for p in (twisted.plugins, services, drivers)]"

install: $(PY)
	$(PIP_INSTALL) -e .
	$(PLUGINS)

install-test: $(PY)
	$(PIP_INSTALL) -e '.[test]'
	$(PLUGINS)

run: install
	$(VENV)/bin/twistd --pidfile= -n cocaine --config $(CONFIG)

test: install-test
	$(PY) -m tests

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) _trial_temp _trial_temp_pure var build *.egg-info
	find cocaine -name "*.c" -delete
	find cocaine -name "*.so" -delete
