# archscope — `make run` and `make test` set up a fresh Debian machine and go.
# Every install step checks first, so a second run installs nothing.

SHELL       := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
GO          ?= go
ADDR        ?= 127.0.0.1:7777
DATA        ?= ./data
DESKTOP_TAGS := desktop,production,webkit2_41

# Debian packages, by what needs them.
APT_WEB     := nodejs npm
APT_TEST    := chromium xvfb xauth imagemagick prometheus prometheus-node-exporter
APT_DESKTOP := libgtk-3-dev libwebkit2gtk-4.1-dev pkg-config build-essential

FRONTEND_SRC := $(shell find frontend/src frontend/index.html frontend/package.json frontend/vite.config.ts frontend/tsconfig.json -type f 2>/dev/null)
GO_SRC       := $(shell find . -name '*.go' -not -path './frontend/node_modules/*' 2>/dev/null) go.mod go.sum

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# apt-install PKGS: install the Debian packages that are missing, and only those.
define apt-install
	missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
endef

.PHONY: deps-web deps-test deps-desktop
deps-web: ## Debian + npm packages the web build needs
	@command -v npm >/dev/null || { $(call apt-install,$(APT_WEB)); }
	@$(MAKE) --no-print-directory frontend/node_modules/.installed

deps-test: deps-web deps-desktop ## everything the tests need (chromium, xvfb, prometheus, node_exporter)
	@$(call apt-install,$(APT_TEST))

deps-desktop: ## Debian packages the desktop build needs (gtk, webkit)
	@$(call apt-install,$(APT_DESKTOP))

# npm ci fails on these machines (the lockfile lacks other platforms' optional packages); npm install works.
frontend/node_modules/.installed: frontend/package.json frontend/package-lock.json
	cd frontend && npm install --no-audit --no-fund --loglevel=error
	touch $@

frontend/dist/index.html: frontend/node_modules/.installed $(FRONTEND_SRC)
	cd frontend && npm run --silent build

.PHONY: frontend
frontend: deps-web frontend/dist/index.html ## build the frontend into frontend/dist

bin/archscope: frontend/dist/index.html $(GO_SRC)
	CGO_ENABLED=0 $(GO) build -trimpath -o $@ .

.PHONY: build
build: frontend bin/archscope ## build bin/archscope (frontend embedded)

.PHONY: run
run: build ## build and start the headless web mode with the demo shop on http://127.0.0.1:7777/
	./bin/archscope serve --addr $(ADDR) --data $(DATA)

.PHONY: desktop
desktop: deps-desktop frontend ## build the Wails desktop binary, bin/archscope-desktop
	$(GO) build -tags $(DESKTOP_TAGS) -o bin/archscope-desktop .

.PHONY: test
test: deps-test frontend ## every test: Go (unit, API, e2e in chromium, promtool), frontend, desktop under Xvfb
	cd frontend && npm run --silent test
	# stdmethods would take chunkenc.Iterator's Seek(int64) ValueType,
	# which storage must implement, for a botched io.Seeker.
	$(GO) vet -stdmethods=false ./...
	ARCHSCOPE_REQUIRE_TOOLS=1 $(GO) test -count=1 ./...
	$(GO) test -race -count=1 ./app/ ./collectors/ ./storage/   # the concurrent parts, under the race detector
	@$(MAKE) --no-print-directory test-desktop

.PHONY: test-e2e
test-e2e: deps-test frontend ## only the browser end-to-end test, verbose, screenshot in test-artifacts/
	ARCHSCOPE_REQUIRE_TOOLS=1 $(GO) test -count=1 -v -run 'TestE2E' .

.PHONY: test-desktop
test-desktop: desktop ## launch the desktop binary under Xvfb, screenshot it, assert it is not blank
	ARCHSCOPE_REQUIRE_TOOLS=1 ARCHSCOPE_DESKTOP_BIN=$(CURDIR)/bin/archscope-desktop \
	  $(GO) test -count=1 -v -run 'TestDesktopSmoke' .

# The collectors' benchmarks run on one core, so samples/s and %core@1s are per core.
.PHONY: bench
bench: ## run the benchmarks and write the figures to bench.txt
	$(GO) test -run '^$$' -bench . -benchmem $$($(GO) list ./... | grep -v -e '/collectors$$' -e '/app$$') | tee bench.txt
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1 ./collectors/ | tee -a bench.txt
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 60x ./app/ | tee -a bench.txt   # live benchmarks: 1 iteration = 1 s of stream

.PHONY: clean
clean: ## remove build output (keeps ./data)
	rm -rf bin frontend/node_modules/.vite
	find frontend/dist -mindepth 1 -not -name .keep -delete 2>/dev/null || true
