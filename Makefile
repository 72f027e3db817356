SHELL := /bin/bash
# stageinit: see README.md. `make run` boots a demo node, `make test` runs
# every test layer (unit, namespace, QEMU).
GO        ?= go
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
GOFLAGS   := -trimpath -buildvcs=false
# runtime.godebugDefault=disablethp=1: the Go heap takes no transparent huge
# pages, which on kernels with THP "always" (Debian's) would double init's
# RSS as pid 1; a runtime setting that //go:debug does not accept, and init's
# own, not its children's.
LDFLAGS   := -s -w -buildid= -X main.version=$(VERSION) -X runtime.godebugDefault=disablethp=1
CACHE     := $(CURDIR)/.cache
BUILD     := $(CURDIR)/build
HOSTARCH  := $(shell $(GO) env GOARCH)
# ARCH picks the architecture of make run and make install: amd64 or arm64.
ARCH      ?= $(HOSTARCH)
INIT_ARCH  = $(if $(filter $(HOSTARCH),$(ARCH)),$(BUILD)/init,$(BUILD)/init-$(ARCH))
export CGO_ENABLED := 0
export SOURCE_DATE_EPOCH ?= 1700000000

.PHONY: all init mkinitramfs initramfs kernel run fleet test unit fuzz deps bench install clean

all: init

# build/init for the host, build/init-arm64 for arm64 nodes.
init:
	$(GO) build $(GOFLAGS) -ldflags '$(LDFLAGS)' -o $(BUILD)/init ./cmd/init
	GOARCH=arm64 $(GO) build $(GOFLAGS) -ldflags '$(LDFLAGS)' -o $(BUILD)/init-arm64 ./cmd/init
	@for b in $(BUILD)/init $(BUILD)/init-arm64; do \
	  echo "$$(basename $$b): $$(stat -c %s $$b) bytes, $$(file -b $$b | grep -o 'x86-64\|aarch64\|statically linked\|dynamically linked' | paste -sd' ')"; done

mkinitramfs:
	$(GO) build $(GOFLAGS) -ldflags '-s -w -buildid=' -o $(BUILD)/mkinitramfs ./cmd/mkinitramfs

# Debian packages the tests and the demo need (installed when missing),
# and Debian's kernels for amd64 and arm64 (with arm64's busybox-static).
DEBS := qemu-system-x86 qemu-system-arm busybox-static cpio file minisign dnsmasq-base ipxe-qemu iproute2 podman runc
deps:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi
	@bash scripts/debian-kernel.sh $(CACHE) amd64
	@bash scripts/debian-kernel.sh $(CACHE) arm64

# The example diskless node: init, busybox, /etc/boot and /etc/reboot.
initramfs: init mkinitramfs deps
	for a in initramfs.cpio initramfs.cpio.gz; do \
	  $(BUILD)/mkinitramfs -o $(BUILD)/$$a -init $(BUILD)/init \
	    -file /bin/busybox=/bin/busybox -overlay examples/node || exit 1; done
	$(BUILD)/mkinitramfs -list $(BUILD)/initramfs.cpio.gz

kernel: initramfs
	bash scripts/build-kernel.sh $(CACHE) $(BUILD)

run: init mkinitramfs deps
	bash scripts/run-demo.sh $(CACHE) $(BUILD) $(ARCH)

# A fleet of NODES PXE-booted nodes (dnsmasq, busybox httpd, a bridge and
# taps in a network namespace of their own), updated in place with a signed
# kexec. As root.
NODES ?= 3
fleet: init mkinitramfs deps
	bash scripts/fleet.sh $(CACHE) $(BUILD) $(NODES)

unit:
	$(GO) vet ./...
	$(GO) test -count=1 -short ./...

# go.mod and go.sum must be tidy: a change go mod tidy would make fails.
test: kernel
	$(GO) mod tidy -diff
	$(GO) vet ./...
	rm -f $(BUILD)/qemu-time.txt
	STAGEINIT_E2E=1 STAGEINIT_CACHE=$(CACHE) $(GO) test -count=1 -timeout 60m ./... 2>&1 | tee $(BUILD)/test.log; \
	  rc=$${PIPESTATUS[0]}; cat $(BUILD)/qemu-time.txt 2>/dev/null; exit $$rc

# Every fuzz target for FUZZTIME each (their seed corpora run in make test).
FUZZTIME ?= 30s
fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

# Peers measured in the same run (Debian packages, installed when missing),
# and rsvg-convert for the PNG of the ratio chart.
PEERS := tini dumb-init catatonit librsvg2-bin
bench: init mkinitramfs deps
	@missing=""; for p in $(PEERS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi
	$(GO) build -o $(BUILD)/bench ./cmd/bench
	$(BUILD)/bench -init $(BUILD)/init -o BENCHMARKS.md $(BENCHFLAGS)

install: init
	install -D -m 0755 $(INIT_ARCH) $(DESTDIR)/init

clean:
	rm -rf $(BUILD)
