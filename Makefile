# shadowtap — build, test, demo, bench. Needs the Debian packages listed in .ci/run.
NODE_GYP := node_modules/.bin/node-gyp
TSC := node_modules/.bin/tsc
ADDON := native/build/Release/shadowtap_pcap.node

.PHONY: all build deps native ts test test-unit test-e2e demo bench clean

all: build

node_modules/.package-lock.json: package.json package-lock.json
	npm ci

deps: node_modules/.package-lock.json

$(ADDON): native/binding.gyp $(wildcard native/src/*) | deps
	$(NODE_GYP) rebuild -C native

native: $(ADDON)

ts: deps
	$(TSC) -p .

build: native ts

# One runner over every test file; e2e tests share loopback and CPU, so files run one at a time.
test: build
	node --test --test-concurrency=1 $$(find dist/test -name '*.test.js' | sort)

demo: build
	node dist/test/support/demo.js

bench: build
	bash bench/read.sh
	bash bench/live.sh

clean:
	rm -rf dist native/build
