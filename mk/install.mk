# Install fragment for the top-level Makefile: `include mk/install.mk`, then
#   make install [PREFIX=/usr/local] [DESTDIR=/tmp/stage]
# puts eagled and eagle-probe, libeagle.so + headers + eagle.pc (via Sources/CEagleClient),
# the systemd units, sysusers/tmpfiles snippets, an example config and docs in place.
# Release binaries are built with --product (a bare `swift build -c release` would also
# compile swift-protobuf's C++ protoc) and --static-swift-stdlib, so the installed daemon
# does not need the Swift toolchain's runtime libraries (own scratch path: the flags differ
# from the demo's release build). After a real install (no DESTDIR), run:
#   systemd-sysusers && systemd-tmpfiles --create && systemctl daemon-reload
#   systemctl enable --now eagled.socket

PREFIX ?= /usr/local
DESTDIR ?=
SWIFT ?= swift
INSTALL_SWIFT_FLAGS ?= -c release --static-swift-stdlib --scratch-path .build/static
BINDIR ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
DOCDIR ?= $(PREFIX)/share/doc/eagled
# systemd looks for units/snippets here; /usr/local paths are not searched by default.
SYSTEMD_UNIT_DIR ?= /etc/systemd/system
SYSUSERS_DIR ?= /usr/lib/sysusers.d
TMPFILES_DIR ?= /usr/lib/tmpfiles.d

.PHONY: install install-daemon install-client install-release-binaries uninstall

install: install-daemon install-client

install-release-binaries:
	$(SWIFT) build $(INSTALL_SWIFT_FLAGS) --product eagled
	$(SWIFT) build $(INSTALL_SWIFT_FLAGS) --product eagle-probe

install-daemon: install-release-binaries
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSTEMD_UNIT_DIR) $(DESTDIR)$(SYSUSERS_DIR) \
	    $(DESTDIR)$(TMPFILES_DIR) $(DESTDIR)$(SYSCONFDIR)/eagled $(DESTDIR)$(DOCDIR)
	install -m 0755 "$$($(SWIFT) build $(INSTALL_SWIFT_FLAGS) --show-bin-path)/eagled" $(DESTDIR)$(BINDIR)/eagled
	install -m 0755 "$$($(SWIFT) build $(INSTALL_SWIFT_FLAGS) --show-bin-path)/eagle-probe" $(DESTDIR)$(BINDIR)/eagle-probe
	sed -e 's|/usr/local/bin/eagled|$(BINDIR)/eagled|' -e 's|/usr/local/share/doc/eagled|$(DOCDIR)|' \
	    Systemd/eagled.service > $(DESTDIR)$(SYSTEMD_UNIT_DIR)/eagled.service
	sed -e 's|/usr/local/share/doc/eagled|$(DOCDIR)|' Systemd/eagled.socket > $(DESTDIR)$(SYSTEMD_UNIT_DIR)/eagled.socket
	chmod 0644 $(DESTDIR)$(SYSTEMD_UNIT_DIR)/eagled.service $(DESTDIR)$(SYSTEMD_UNIT_DIR)/eagled.socket
	install -m 0644 Systemd/eagled.sysusers $(DESTDIR)$(SYSUSERS_DIR)/eagled.conf
	install -m 0644 Systemd/eagled.tmpfiles $(DESTDIR)$(TMPFILES_DIR)/eagled.conf
	install -m 0644 Systemd/eagled.json $(DESTDIR)$(SYSCONFDIR)/eagled/eagled.json.example
	test -e $(DESTDIR)$(SYSCONFDIR)/eagled/eagled.json || \
	    install -m 0644 Systemd/eagled.json $(DESTDIR)$(SYSCONFDIR)/eagled/eagled.json
	install -m 0644 docs/daemon.md $(DESTDIR)$(DOCDIR)/daemon.md

install-client:
	$(MAKE) -C Sources/CEagleClient install PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/eagled $(DESTDIR)$(BINDIR)/eagle-probe
	rm -f $(DESTDIR)$(SYSTEMD_UNIT_DIR)/eagled.service $(DESTDIR)$(SYSTEMD_UNIT_DIR)/eagled.socket
	rm -f $(DESTDIR)$(SYSUSERS_DIR)/eagled.conf $(DESTDIR)$(TMPFILES_DIR)/eagled.conf
	rm -f $(DESTDIR)$(SYSCONFDIR)/eagled/eagled.json.example
	rm -rf $(DESTDIR)$(DOCDIR)
