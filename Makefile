# peon-sshd: worker-side debug SSH agent.
# Targets: all, check, unit, integration, package-test, fuzz, demo, deb, install, uninstall,
# clean, bench, lint.

PREFIX   ?= /usr/local
SBINDIR  ?= $(PREFIX)/sbin
BINDIR   ?= $(PREFIX)/bin
MANDIR   ?= $(PREFIX)/share/man
LIBEXECDIR ?= $(PREFIX)/lib/peon-sshd
SYSCONFDIR ?= /etc
UNITDIR  ?= /lib/systemd/system
DESTDIR  ?=

VERSION  := 0.1.0
CC       ?= cc
PKGS     := libssh libconfig libsystemd json-c libcurl libcrypto libseccomp xau

# The project's own flags live in PEON_*: CFLAGS, CPPFLAGS and LDFLAGS are the
# builder's (dpkg-buildflags, `make CFLAGS=-O0`) and come after ours, so they
# tune the build without dropping warnings or hardening. WERROR=1 (the test
# targets and CI set it) turns warnings into errors; a packager's newer
# compiler should not fail a release build on a new warning.
WERROR   ?= 0
CFLAGS   ?= -O2 -g
# _FORTIFY_SOURCE only when the builder does not choose a level (Debian's
# flags bring -D_FORTIFY_SOURCE=2 or 3): defining it twice is a warning.
# -U first: some compilers (Ubuntu's gcc) predefine it.
PEON_FORTIFY = $(if $(findstring _FORTIFY_SOURCE,$(CPPFLAGS) $(CFLAGS)),,-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2)
PEON_CPPFLAGS = -D_GNU_SOURCE -DPEON_VERSION=\"$(VERSION)\" -DPEON_LIBEXECDIR=\"$(LIBEXECDIR)\" -Ipeon-sshd
PEON_WARN = -Wall -Wextra -Wshadow -Wformat=2 -Wno-format-nonliteral $(if $(filter 1,$(WERROR)),-Werror)
PEON_CFLAGS = -std=gnu11 $(PEON_WARN) -fstack-protector-strong -fPIE
PEON_LDFLAGS = -pie -Wl,-z,relro,-z,now
# Each object also writes its header dependencies (build/*.d, included below).
DEPFLAGS = -MMD -MP
COMPILE = $(CC) $(PEON_CPPFLAGS) $(PEON_FORTIFY) $(CPPFLAGS) $(PEON_CFLAGS) $(CFLAGS) $(DEPFLAGS)
LINK = $(CC) $(PEON_CFLAGS) $(CFLAGS) $(PEON_LDFLAGS) $(LDFLAGS)
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

B := build
# One build job per core where the order does not matter (check-build,
# the package, the fuzzers): CI has 2 cores and 25 minutes.
NPROC := $(shell nproc 2>/dev/null || echo 1)
# Modules shared by the daemon, the control tool and the unit tests.
CORE := util log logjournal peonconf preauth config authkeys keyset keyurl keyfp route routeq regstore envfilter envbuild procinfo registry jobseccomp ocispec ociseccomp ctlproto duration cgroup caps address report docker containerd
DAEMON := $(CORE) algo hostkey listener control ctlexec execkeys keyurls keyfetch keyfetcher privdrop daemon gate spares primer metrics monitor monjob montally monproto uidpool target look follow addlook jobspec \
          jobenter joblsm spawn jobtask monfwd image sessfile pty forward reporter
# The network child (one per connection, exec'd by the monitor, sandboxed):
# all of libssh, and nothing that touches the job or the registry.
NET := netchild algo sandbox privdrop monclient monproto session clientalive auth dispatch channel chan_session chan_direct \
       chan_forwarded chan_agent chan_x11 listeners relay \
       testhook util log keyfp envfilter
# Unit tests also cover the SFTP server's parser.
UNIT_MODS := $(CORE) sftp monproto uidpool joblsm
# The SFTP server is an image of its own, run inside jobs from a sealed memfd:
# static (the job's root has none of our libraries), position-independent.
SFTP_SERVER_OBJS := $(B)/sftp-server.o $(B)/sftp.o $(B)/util.o
CTL := $(CORE)

DAEMON_OBJS := $(addprefix $(B)/,$(addsuffix .o,$(DAEMON))) $(B)/main.o
NET_OBJS := $(addprefix $(B)/,$(addsuffix .o,$(NET)))
CTL_OBJS := $(addprefix $(B)/,$(addsuffix .o,$(CTL))) $(B)/peon-sshctl.o

UNIT_TESTS := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c))
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

.PHONY: all progs deps check unit valgrind integration integration-san fuzz fuzz-smoke demo install uninstall \
        clean bench lint deb package-test clang-build check-build
# What is installed (and packaged); `all` adds the test-only network child.
PROGS := $(B)/peon-sshd $(B)/peon-sshd-net $(B)/peon-sshctl $(B)/peon-sftp-server
# `all` never installs packages: a build on a packager's or admin's machine
# must not run apt behind their back. Targets that run things (check, demo,
# deb, bench) call scripts/install-deps.
all: progs $(B)/peon-sshd-net-testhooks
progs: $(PROGS)

deps:
	@scripts/install-deps test

# The tests' objects fail on any warning; a command-line WERROR=0 still wins.
check check-build unit valgrind integration integration-san fuzz fuzz-smoke package-test: WERROR = 1

$(B):
	@mkdir -p $(B) $(B)/san

$(B)/%.o: peon-sshd/%.c | $(B)
	@echo "  CC $<"; $(COMPILE) $(PKG_CFLAGS) -c $< -o $@

$(B)/peon-sshd: $(DAEMON_OBJS)
	$(LINK) $^ $(PKG_LIBS) -o $@

# Only what it uses: each library loaded costs every connection its
# relocations and data (libcurl alone brings a dozen more). libssh itself is
# Debian's libgcrypt build of the same 0.10.6 (libssh-gcrypt-4; same API and
# ABI, same algorithms): a freshly exec'd OpenSSL 3 costs each connection
# ~690 KiB of relocated data and provider tables before it serves anyone,
# libgcrypt about a fifth of that (docs/performance.md). The daemon, the
# monitors and peon-sshctl keep the OpenSSL build: they hold no private key.
NET_SSH_LIB ?= -l:libssh-gcrypt.so.4
NET_LIBS = $(NET_SSH_LIB) $(shell pkg-config --libs libgcrypt libseccomp 2>/dev/null)
$(B)/peon-sshd-net: $(NET_OBJS)
	$(LINK) -Wl,--as-needed $^ $(NET_LIBS) -o $@

# Test builds only (tests/integration/test_privsep.py): the network child
# with hooks that try what its sandbox and its monitor must refuse.
$(B)/th/%.o: peon-sshd/%.c | $(B)
	@mkdir -p $(B)/th
	@echo "  CC(hooks) $<"; $(COMPILE) -DPEON_TEST_HOOKS $(PKG_CFLAGS) -c $< -o $@
$(B)/peon-sshd-net-testhooks: $(addprefix $(B)/th/,$(addsuffix .o,$(NET)))
	$(LINK) -Wl,--as-needed $^ $(NET_LIBS) -o $@

$(B)/peon-sshctl: $(CTL_OBJS)
	$(LINK) $^ $(PKG_LIBS) -o $@

# Static-pie: the same -fPIE objects, no -pie (the two do not mix).
$(B)/peon-sftp-server: $(SFTP_SERVER_OBJS)
	$(CC) $(PEON_CFLAGS) $(CFLAGS) -static-pie -Wl,-z,relro,-z,now $(LDFLAGS) $^ -o $@

# Unit tests: every core module built with ASan+UBSan, linked against cmocka.
$(B)/san/%.o: peon-sshd/%.c | $(B)
	$(COMPILE) -O1 $(SANFLAGS) $(PKG_CFLAGS) -c $< -o $@
$(B)/san/test_%: tests/unit/test_%.c $(addprefix $(B)/san/,$(addsuffix .o,$(UNIT_MODS))) | $(B)
	$(COMPILE) -O1 $(SANFLAGS) $(PKG_CFLAGS) $(filter-out %.h,$^) $(PKG_LIBS) -lcmocka -o $@

unit: deps $(addprefix $(B)/san/,$(UNIT_TESTS))
	@failed=0; for t in $(UNIT_TESTS); do echo "== $$t"; \
	  ( cd tests/unit && ASAN_OPTIONS=detect_leaks=1 ../../$(B)/san/$$t ) || failed=1; done; \
	  exit $$failed

# The same unit tests without sanitizers, under valgrind: leaks and bad reads in parsers.
$(B)/vg/%.o: peon-sshd/%.c | $(B)
	@mkdir -p $(B)/vg
	@$(COMPILE) -O0 $(PKG_CFLAGS) -c $< -o $@
$(B)/vg/test_%: tests/unit/test_%.c $(addprefix $(B)/vg/,$(addsuffix .o,$(UNIT_MODS))) | $(B)
	@$(COMPILE) -O0 $(PKG_CFLAGS) $(filter-out %.h,$^) $(PKG_LIBS) -lcmocka -o $@

valgrind: deps $(addprefix $(B)/vg/,$(UNIT_TESTS))
	@failed=0; for t in $(UNIT_TESTS); do \
	  ( cd tests/unit && valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
	    ../../$(B)/vg/$$t >/dev/null ) || { echo "valgrind: $$t failed"; failed=1; }; done; \
	  [ $$failed = 0 ] && echo "valgrind: $(words $(UNIT_TESTS)) unit test programs clean"; exit $$failed

# SAN=1: the daemon under test is built with ASan/UBSan (every session,
# SFTP and helper process it forks inherits them); the harness fails a test
# whose daemon log holds a sanitizer report.
ifeq ($(SAN),1)
TEST_SSHD := $(B)/sand/peon-sshd
else
TEST_SSHD := $(B)/peon-sshd
endif
PYTEST_ARGS ?= tests/integration

$(B)/sand/%.o: peon-sshd/%.c | $(B)
	@mkdir -p $(B)/sand
	@echo "  CC(san) $<"; $(COMPILE) -O1 $(SANFLAGS) $(PKG_CFLAGS) -c $< -o $@
$(B)/sand/peon-sshd: $(addprefix $(B)/sand/,$(addsuffix .o,$(DAEMON))) $(B)/sand/main.o $(B)/sand/peon-sftp-server \
                     $(B)/sand/peon-sshd-net
	$(LINK) $(SANFLAGS) $(filter %.o,$^) $(PKG_LIBS) -o $@
$(B)/sand/peon-sshd-net: $(addprefix $(B)/sand/,$(addsuffix .o,$(NET)))
	$(LINK) $(SANFLAGS) -Wl,--as-needed $^ $(NET_LIBS) -o $@
# A static image cannot carry ASan's runtime: the sanitized daemon runs the
# plain SFTP server (its parser is covered by the unit tests under ASan).
$(B)/sand/peon-sftp-server: $(B)/peon-sftp-server
	@mkdir -p $(B)/sand
	cp $< $@

# libFuzzer targets, one per parser of untrusted or operator input
# (tests/fuzz/fuzz_*.c), built with clang under ASan/UBSan. fuzz-smoke runs
# each for FUZZ_SECONDS from its seeds; `make fuzz-smoke FUZZ_SECONDS=600`
# for a real run. Crashes are left as crash-* files in the build dir.
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 8
FUZZ_WARN = $(PEON_WARN) -Wno-unused-command-line-argument
$(B)/fuzz/%.o: peon-sshd/%.c | $(B)
	@mkdir -p $(B)/fuzz
	@echo "  CC(fuzz) $<"; $(FUZZ_CC) $(PEON_CPPFLAGS) $(CPPFLAGS) -std=gnu11 $(FUZZ_WARN) $(DEPFLAGS) -g -O1 \
	  -fsanitize=fuzzer-no-link,address,undefined $(PKG_CFLAGS) -c $< -o $@
$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(addprefix $(B)/fuzz/,$(addsuffix .o,$(UNIT_MODS)))
	$(FUZZ_CC) $(PEON_CPPFLAGS) $(CPPFLAGS) -std=gnu11 $(FUZZ_WARN) $(DEPFLAGS) -g -O1 \
	  -fsanitize=fuzzer,address,undefined $(PKG_CFLAGS) $(filter-out %.h,$^) $(PKG_LIBS) -o $@

fuzz: deps $(addprefix $(B)/fuzz/,$(FUZZ_TARGETS))

# Each target runs in a directory of its own holding its corpus and seeds
# (fuzz_sftp makes it its root, as the nobody user: hence mode 1777), one
# per core at a time: a libFuzzer run is one process, timed by the clock.
FUZZ_RUNS := $(addprefix fuzz-run-,$(FUZZ_TARGETS))
.PHONY: $(FUZZ_RUNS)
$(FUZZ_RUNS): fuzz-run-%: $(B)/fuzz/%
	@run=$(B)/fuzz/run-$*; mkdir -p $$run/corpus && chmod 1777 $$run $$run/corpus && rm -rf $$run/seeds && \
	  cp -r tests/fuzz/seeds/$* $$run/seeds && \
	  ( cd $$run && ../$* -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 \
	    corpus seeds >../$*.log 2>&1 ) || \
	  { echo "fuzz: $* failed (see $(B)/fuzz/$*.log)"; tail -40 $(B)/fuzz/$*.log; exit 1; }

fuzz-smoke: fuzz
	@$(MAKE) --no-print-directory -k -j$(NPROC) $(FUZZ_RUNS) && \
	  echo "fuzz: $(words $(FUZZ_TARGETS)) targets ran $(FUZZ_SECONDS) s each, no crash"

# A job process under a filter of the tests' own (test_job_seccomp.py);
# static: it runs inside a busybox root.
$(B)/seccomp-job: tests/helpers/seccomp_job.c | $(B)
	$(CC) -O2 -Wall -Wextra -Werror -static $< -lseccomp -o $@

# The one file of a scratch job image (test_toolbox.py).
$(B)/scratch-app: tests/helpers/scratch_app.c | $(B)
	$(CC) -O2 -Wall -Wextra -Werror -static $< -o $@

# How the job's filter answers a few syscalls (test_runtimes.py, side by side).
$(B)/syscall-probe: tests/helpers/syscall_probe.c | $(B)
	$(CC) -O2 -Wall -Wextra -Werror -static $< -o $@

TEST_HELPERS := $(B)/seccomp-job $(B)/scratch-app $(B)/syscall-probe
integration: deps all $(TEST_SSHD) $(TEST_HELPERS)
	PEON_SSHD=$(abspath $(TEST_SSHD)) /usr/bin/python3 -m pytest -q -ra $(PYTEST_ARGS)

# The relay, session, privilege-separation, forwarding, SFTP, ClientAlive and
# key-control tests again against a sanitized daemon (its monitor, network
# child and key fetcher are sanitized too).
SAN_TESTS := tests/integration/test_relay.py tests/integration/test_sessions.py tests/integration/test_privsep.py \
             tests/integration/test_forward.py tests/integration/test_sftp.py tests/integration/test_job_seccomp.py \
             tests/integration/test_forward_remote.py tests/integration/test_client_alive.py \
             tests/integration/test_key_urls.py tests/integration/test_keys_control.py tests/integration/test_runtimes.py
integration-san: deps all
	$(MAKE) integration SAN=1 PYTEST_ARGS="$(SAN_TESTS)"

# The programs built by clang too, warnings fatal, in a directory of their
# own: both compilers must keep building the tree (Debian builds with gcc,
# the fuzz targets need clang).
clang-build: deps
	$(MAKE) --no-print-directory -j$(NPROC) CC=clang B=$(B)/clang WERROR=1 progs

# Every program the checks run, built first with one job per core (the
# tree's rules name all their inputs; clang-build does the same for its
# own tree); the checks themselves then run one after another, as the
# timing tests need the machine to themselves.
check-build: deps
	@$(MAKE) --no-print-directory -j$(NPROC) WERROR=1 all $(TEST_HELPERS) $(B)/sand/peon-sshd \
	  $(addprefix $(B)/san/,$(UNIT_TESTS)) $(addprefix $(B)/vg/,$(UNIT_TESTS)) $(addprefix $(B)/fuzz/,$(FUZZ_TARGETS))

check: check-build lint clang-build unit valgrind fuzz-smoke integration integration-san package-test

lint:
	@if command -v cppcheck >/dev/null; then \
	  cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	    --inline-suppr --std=c11 -D_GNU_SOURCE -Ipeon-sshd peon-sshd; fi

demo: deps all
	scripts/demo

bench: deps all
	scripts/install-deps bench
	/usr/bin/python3 tests/bench/bench.py

# The installed layout, the package's (debian/rules runs this with PREFIX=/usr)
# and `make install`'s. The configuration is installed only when absent, and
# uninstall leaves it (and the host keys in /var/lib/peon-sshd) as a
# package's remove does.
MAN8 := $(wildcard docs/*.8)
MAN5 := $(wildcard docs/*.5)
INSTALLED := $(SBINDIR)/peon-sshd $(BINDIR)/peon-sshctl $(LIBEXECDIR)/peon-sshd-net \
             $(LIBEXECDIR)/peon-sftp-server $(UNITDIR)/peon-sshd.service \
             $(addprefix $(MANDIR)/man8/,$(notdir $(MAN8))) $(addprefix $(MANDIR)/man5/,$(notdir $(MAN5)))
install: $(PROGS)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(UNITDIR) \
	  $(DESTDIR)$(SYSCONFDIR)/peon-sshd $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(B)/peon-sshd $(DESTDIR)$(SBINDIR)/peon-sshd
	install -m 0755 $(B)/peon-sshctl $(DESTDIR)$(BINDIR)/peon-sshctl
	install -m 0755 $(B)/peon-sftp-server $(B)/peon-sshd-net $(DESTDIR)$(LIBEXECDIR)/
	sed 's|/usr/local/sbin|$(SBINDIR)|g' systemd/peon-sshd.service > $(DESTDIR)$(UNITDIR)/peon-sshd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/peon-sshd.service
	[ -e $(DESTDIR)$(SYSCONFDIR)/peon-sshd/peon-sshd.conf ] || \
	  install -m 0644 config/peon-sshd.conf $(DESTDIR)$(SYSCONFDIR)/peon-sshd/peon-sshd.conf
	install -m 0644 $(MAN8) $(DESTDIR)$(MANDIR)/man8/
	$(if $(MAN5),install -d $(DESTDIR)$(MANDIR)/man5 && install -m 0644 $(MAN5) $(DESTDIR)$(MANDIR)/man5/)

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	-rmdir $(DESTDIR)$(LIBEXECDIR)

# The Debian package, built by dpkg-buildpackage from a copy of the tree
# under build/deb (it writes its results to the parent directory: build/deb,
# not beside the repository), then checked by lintian: a warning fails too.
DEB_ARCH = $(shell dpkg --print-architecture 2>/dev/null)
DEB_DIR := $(B)/deb
DEB = $(DEB_DIR)/peon-sshd_$(VERSION)_$(DEB_ARCH).deb
DEB_SRC := Makefile README.md config debian docs peon-sshd systemd
deb:
	@scripts/install-deps deb
	@$(MAKE) --no-print-directory $(DEB)

$(DEB): $(shell find $(DEB_SRC) -type f 2>/dev/null)
	@v=$$(dpkg-parsechangelog -S Version); [ "$$v" = "$(VERSION)" ] || \
	  { echo "deb: debian/changelog is at $$v but the Makefile's VERSION is $(VERSION); run: dch -v $(VERSION)" >&2; exit 1; }
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/src
	cp -a $(DEB_SRC) $(DEB_DIR)/src/
	@# Without this make's MAKEFLAGS: a command-line B= or PREFIX= would reach
	@# debian/rules' own make (and its clean would remove this build dir).
	cd $(DEB_DIR)/src && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL dpkg-buildpackage -b -us -uc -j$(NPROC) >../build.log 2>&1 || \
	  { tail -40 ../build.log; echo "deb: dpkg-buildpackage failed (see $(DEB_DIR)/build.log)" >&2; exit 1; }
	lintian --fail-on error,warning --info $@

# Install, upgrade with a live session, remove and purge the package in a
# throwaway overlay root of its own (tests/package/test_package.py).
package-test: deps $(DEB)
	PEON_DEB=$(abspath $(DEB)) /usr/bin/python3 -m pytest -q -ra tests/package

clean:
	rm -rf $(B) tests/integration/__pycache__ .pytest_cache
.SECONDARY:

-include $(wildcard $(B)/*.d $(B)/*/*.d)
