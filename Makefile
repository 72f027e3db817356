SHELL := /bin/bash
# stageinit: see README.md. `make run` boots a demo node, `make test` runs
# every test layer (unit, namespace, QEMU).
GO        ?= go
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
GOFLAGS   := -trimpath -buildvcs=false
LDFLAGS   := -s -w -buildid= -X main.version=$(VERSION)
CACHE     := $(CURDIR)/.cache
BUILD     := $(CURDIR)/build
export CGO_ENABLED := 0
export SOURCE_DATE_EPOCH ?= 1700000000

.PHONY: all init mkinitramfs initramfs kernel run test unit deps bench install clean

all: init

init:
	$(GO) build $(GOFLAGS) -ldflags '$(LDFLAGS)' -o $(BUILD)/init ./cmd/init
	@echo "build/init: $$(stat -c %s $(BUILD)/init) bytes, $$(file -b $(BUILD)/init | grep -o 'statically linked\|dynamically linked')"

mkinitramfs:
	$(GO) build $(GOFLAGS) -ldflags '-s -w -buildid=' -o $(BUILD)/mkinitramfs ./cmd/mkinitramfs

# Debian packages the tests and the demo need (installed when missing).
DEBS := qemu-system-x86 busybox-static cpio file
deps:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi
	@bash scripts/debian-kernel.sh $(CACHE)

# The example diskless node: init, busybox, /etc/boot and /etc/reboot.
initramfs: init mkinitramfs deps
	for a in initramfs.cpio initramfs.cpio.gz; do \
	  $(BUILD)/mkinitramfs -o $(BUILD)/$$a -init $(BUILD)/init \
	    -file /bin/busybox=/bin/busybox -overlay examples/node || exit 1; done
	$(BUILD)/mkinitramfs -list $(BUILD)/initramfs.cpio.gz

kernel: initramfs
	bash scripts/build-kernel.sh $(CACHE) $(BUILD)

run: initramfs
	bash scripts/run-demo.sh $(CACHE) $(BUILD)

unit:
	$(GO) vet ./...
	$(GO) test -count=1 -short ./...

test: kernel
	$(GO) vet ./...
	rm -f $(BUILD)/qemu-time.txt
	STAGEINIT_E2E=1 STAGEINIT_CACHE=$(CACHE) $(GO) test -count=1 -timeout 60m ./... 2>&1 | tee $(BUILD)/test.log; \
	  rc=$${PIPESTATUS[0]}; cat $(BUILD)/qemu-time.txt 2>/dev/null; exit $$rc

# Peers measured in the same run (Debian packages, installed when missing),
# and rsvg-convert for the PNG of the ratio chart.
PEERS := tini dumb-init catatonit librsvg2-bin
bench: init mkinitramfs deps
	@missing=""; for p in $(PEERS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi
	$(GO) build -o $(BUILD)/bench ./cmd/bench
	$(BUILD)/bench -init $(BUILD)/init -o BENCHMARKS.md $(BENCHFLAGS)

install: init
	install -D -m 0755 $(BUILD)/init $(DESTDIR)/init

clean:
	rm -rf $(BUILD)
