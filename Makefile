# shadowtap — build, test, demo, bench. On a fresh Debian machine (as root) the first
# target installs what is missing: Debian packages, then npm ci.
SYSTEM_PACKAGES := libpcap-dev tcpdump tshark wrk nginx-light iproute2 g++ make python3
# Only the tests need these (headless Chromium renders the HTML report; systemd-analyze checks the
# units; tcpreplay plays crafted captures live; nats-server is the fleet tests' broker).
TEST_PACKAGES := chromium fonts-dejavu-core systemd rsyslog prometheus tcpreplay nats-server
NODE_GYP := node_modules/.bin/node-gyp
# Build against the headers of the node that runs us (no download: only npm and apt are reachable).
NODEDIR ?= $(shell node -p "require('path').resolve(process.execPath, '..', '..')")
TSC := node_modules/.bin/tsc
ADDON := native/build/Release/shadowtap_pcap.node

.PHONY: all build deps system-deps test-deps native ts test demo bench clean deb

all: build

system-deps:
	@dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1 || { \
	  echo "installing Debian packages: $(SYSTEM_PACKAGES)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES) >/dev/null; }

test-deps:
	@dpkg -s $(TEST_PACKAGES) >/dev/null 2>&1 || { \
	  echo "installing Debian packages for the tests: $(TEST_PACKAGES)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(TEST_PACKAGES) >/dev/null; }

node_modules/.package-lock.json: package.json package-lock.json | system-deps
	npm ci --no-audit --no-fund

deps: node_modules/.package-lock.json

$(ADDON): native/binding.gyp $(wildcard native/src/*) | deps
	$(NODE_GYP) rebuild -C native --nodedir=$(NODEDIR)

native: $(ADDON)

ts: deps
	rm -rf dist
	$(TSC) -p .

build: native ts

# One runner over every test file; e2e tests share loopback and CPU, so files run one at a time.
test: build test-deps
	node --test --test-concurrency=1 $$(find dist/test -name '*.test.js' | sort)

# The Debian package, built offline with dpkg-deb: $(DEB_DIR)/shadowtap_<version>_<arch>.deb
DEB_DIR ?= dist/deb
deb: build
	bash packaging/build-deb.sh $(DEB_DIR)

demo: build
	node dist/test/support/demo.js

bench: build
	bash bench/read.sh
	bash bench/live.sh
	node dist/bench/compare.js

clean:
	rm -rf dist native/build
