# ngx_http_foundry_module: build, test and demo.
#
#   make                 build build/ngx_http_foundry_module.so against the
#                        installed Debian nginx (nginx-dev tree)
#   make NGINX_SRC=dir   build against an upstream nginx source tree
#   make CC=clang        build with clang
#   make deps            install the Debian packages that are missing
#   make test            deps + build + the Test::Nginx suite
#   make test-valgrind   the same suite with nginx under valgrind
#   make test-sdk        the official openai npm SDK against the demo
#   make test-asan       the same suite with the module under ASan and UBSan
#   make demo            the gateway with the mock model upstream
#   make demo-token      a bearer token the demo gateway accepts
#   make demo-fleet      two gateway nodes sharing their limits through
#                        redis-server (foundry_limit_sync)
#   make fuzz-test       C unit tests of the JWT parser, fuzzers 10 s each
#   make fuzz            the fuzzers, FUZZ_TIME seconds each (fuzz/README.md)
#   make bench           benchmarks against plain nginx (docs/benchmarks.md)
#   make loadgen         build/loadgen, the bench's fixed-rate load generator
#   make loadgen-check   it holds its rate, counts errors, reads chunked
#                        answers and measures from the due time
#   make check-conf      nginx -t on every file of conf.d/, in make demo's
#                        layout and in Debian's /etc/nginx
#   make install         the module, its load_module snippet, the proxy
#                        snippets and the docs (DESTDIR, PREFIX, MODULESDIR,
#                        NGINX_CONFDIR; see README's Installation)
#   make uninstall       removes what make install installed
#   make deb             build/libnginx-mod-http-foundry_<version>_<arch>.deb
#                        (debhelper's nginx addon, Debian's nginx-dev)
#   make ops-check       promtool check rules on ops/, and every metric that
#                        ops/ names on a live /metrics
#   make style           nginx house style checks on src/

SHELL        := /bin/bash
TOP          := $(abspath .)
BUILD        ?= $(TOP)/build
CC           ?= cc
NGINX_SRC    ?=
PROVE_JOBS   ?= $(shell nproc 2>/dev/null || echo 1)
T            ?= t/
VERSION      := $(shell head -n 1 $(TOP)/VERSION)

# Debian's nginx-dev tree builds the module only, for /usr/sbin/nginx; an
# upstream source tree builds its nginx binary too, and tests use it
ifeq ($(NGINX_SRC),)
NGX_TREE     := $(BUILD)/nginx-debian
NGX_FROM     := /usr/share/nginx/src
NGX_TARGET   := modules
MODULE       := $(BUILD)/ngx_http_foundry_module.so
NGINX_BIN    ?= /usr/sbin/nginx
else
NGX_TREE     := $(BUILD)/nginx-$(notdir $(abspath $(NGINX_SRC)))
NGX_FROM     := $(abspath $(NGINX_SRC))
NGX_TARGET   := build
MODULE       := $(NGX_TREE)/ngx_http_foundry_module.so
NGINX_BIN    ?= $(NGX_TREE)/objs/nginx
endif

WARN_CFLAGS  := -Wall -Wextra -Werror -Wno-unused-parameter
CC_OPT       ?= -g -O2 -fstack-protector-strong -Wformat \
                -Werror=format-security -fPIC -D_FORTIFY_SOURCE=2
LD_OPT       ?= -Wl,-z,relro -Wl,-z,now -fPIC

SRCS         := $(wildcard src/*.c src/*/*.c src/*/*.h) config

# what the tree is configured for: the nginx it builds against.  When it
# changes (an nginx or nginx-dev upgrade, another NGINX_SRC version), the
# tree is copied and configured again: a module built for one nginx may
# not load into another
ifeq ($(NGINX_SRC),)
NGX_ID_CMD   := $(NGINX_BIN) -V 2>&1; \
                dpkg-query -W -f='$${Package} $${Version}\n' nginx nginx-dev \
                    2>/dev/null; \
                cat $(NGX_FROM)/conf_flags 2>/dev/null
else
NGX_ID_CMD   := echo $(NGX_FROM); \
                grep -h 'define NGINX_VERSION ' $(NGX_FROM)/src/core/nginx.h; \
                printf '%s\n' "$$NGINX_CONFIGURE_ARGS"
endif
export NGINX_CONFIGURE_ARGS
NGX_ID       := $(NGX_TREE).nginx-id

# Test::Nginx::Socket: the installed one when there is one, else ours
TEST_NGINX_LIB := $(shell perl -MTest::Nginx::Socket -e1 2>/dev/null \
                    || echo $(TOP)/t/runner/lib)
TINI         := $(shell command -v tini 2>/dev/null)

export TEST_NGINX_BINARY       ?= $(NGINX_BIN)
export TEST_NGINX_LOAD_MODULES ?= $(MODULE)
export TEST_NGINX_RANDOMIZE    ?= 1

.PHONY: all build deps test test-only test-valgrind test-asan test-sdk demo \
        demo-token demo-fleet bench loadgen loadgen-check fuzz fuzz-test \
        check-conf style clean distclean install uninstall deb ops-check \
        FORCE

all: build

build: $(MODULE)

$(NGX_ID): FORCE
	@mkdir -p $(BUILD)
	@{ $(NGX_ID_CMD); } > $@.new
	@if cmp -s $@.new $@; then rm -f $@.new; else \
	    if [ -f $@ ]; then echo "the nginx to build against changed:" \
	        "configuring $(NGX_TREE) again"; fi; mv -f $@.new $@; fi

$(NGX_TREE)/.configured: config VERSION $(NGX_ID)
	@test -d "$(NGX_FROM)" || { echo "no nginx tree at $(NGX_FROM):" \
	    "run 'make deps' or set NGINX_SRC"; exit 1; }
	rm -rf $(NGX_TREE)
	mkdir -p $(BUILD)
	cp -a $(NGX_FROM) $(NGX_TREE)
	cd $(NGX_TREE) && CC_OPT="$(CC_OPT) $(WARN_CFLAGS)" LD_OPT="$(LD_OPT)" \
	    CC="$(CC)" MODULE_DIR="$(TOP)" $(TOP)/tools/configure-nginx
	touch $@

$(MODULE): $(NGX_TREE)/.configured $(SRCS)
	$(MAKE) -C $(NGX_TREE) -f objs/Makefile $(NGX_TARGET)
	cp $(NGX_TREE)/objs/ngx_http_foundry_module.so $@.tmp
	mv -f $@.tmp $@

deps:
	@$(TOP)/tools/deps

test: deps build test-only

test-only:
	@echo "Test::Nginx::Socket: $$(perl $(if $(filter $(TOP)/%,\
	    $(TEST_NGINX_LIB)),-I$(TEST_NGINX_LIB)) -MTest::Nginx::Socket \
	    -e 'print $$INC{"Test/Nginx/Socket.pm"}')"
	@echo "nginx: $(TEST_NGINX_BINARY), module: $(TEST_NGINX_LOAD_MODULES)"
	$(TINI) $(if $(TINI),-s --) prove -j$(PROVE_JOBS) \
	    $(if $(filter $(TOP)/%,$(TEST_NGINX_LIB)),-I$(TEST_NGINX_LIB)) \
	    -r $(T)

test-valgrind: deps build
	@VALGRIND=1 $(TOP)/tools/deps
	TEST_NGINX_USE_VALGRIND=1 $(MAKE) test-only

# the suite with the module built with ASan and UBSan (gcc), nginx running
# with the sanitizer runtime preloaded; any report fails the run
ASAN_DIR     := $(BUILD)/asan
ASAN_FLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer \
                -fno-sanitize-recover=undefined

test-asan: deps
	$(MAKE) build BUILD=$(ASAN_DIR) CC=gcc \
	    CC_OPT="-g -O1 -fPIC $(ASAN_FLAGS)" \
	    LD_OPT="-fPIC $(ASAN_FLAGS)"
	rm -rf $(ASAN_DIR)/reports && mkdir -p $(ASAN_DIR)/reports
	LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:log_path=$(ASAN_DIR)/reports/asan \
	UBSAN_OPTIONS=print_stacktrace=1:log_path=$(ASAN_DIR)/reports/ubsan \
	FOUNDRY_TEST_ASAN=1 \
	    $(MAKE) test-only TEST_NGINX_LOAD_MODULES=$(ASAN_DIR)/ngx_http_foundry_module.so
	@if ls $(ASAN_DIR)/reports/* >/dev/null 2>&1; then \
	    echo "sanitizer reports:"; cat $(ASAN_DIR)/reports/*; exit 1; fi
	@echo "test-asan: no sanitizer report"

test-sdk: deps build
	@NODE=1 $(TOP)/tools/deps
	$(TOP)/tools/sdk-test

# make bench [BENCH_ARGS="--quick"]: the module against plain proxy_pass
# the fuzzers link nginx's own objects: an nginx tree with its .c files
export FUZZ_NGINX_SRC ?= $(NGINX_SRC)

fuzz-test:
	@FUZZ=1 $(TOP)/tools/deps
	NGINX_SRC="$${FUZZ_NGINX_SRC:-$$($(TOP)/tools/nginx-source)}" \
	    $(TOP)/tools/fuzz --test
	NGINX_SRC="$${FUZZ_NGINX_SRC:-$$($(TOP)/tools/nginx-source)}" \
	    $(TOP)/tools/fuzz --smoke

fuzz:
	@FUZZ=1 $(TOP)/tools/deps
	NGINX_SRC="$${FUZZ_NGINX_SRC:-$$($(TOP)/tools/nginx-source)}" \
	    $(TOP)/tools/fuzz $(FUZZ_ARGS)

bench: deps build loadgen
	@BENCH=1 $(TOP)/tools/deps
	LOADGEN=$(LOADGEN) $(TOP)/tools/bench $(BENCH_ARGS)

# the open-loop load generator of tools/bench's fixed-rate rounds: libc
# and epoll only
LOADGEN      := $(BUILD)/loadgen

loadgen: $(LOADGEN)

$(LOADGEN): tools/loadgen.c
	@mkdir -p $(BUILD)
	$(CC) -O2 -g $(WARN_CFLAGS) -o $@.tmp $<
	mv -f $@.tmp $@

loadgen-check: loadgen
	LOADGEN=$(LOADGEN) NGINX_BIN=$(NGINX_BIN) $(TOP)/tools/loadgen-check

demo-token:
	@$(TOP)/tools/demo-token

demo: deps build
	@$(TOP)/tools/demo

demo-fleet: deps build
	@$(TOP)/tools/demo-fleet

check-conf: build
	@MODULE=$(MODULE) NGINX_BIN=$(NGINX_BIN) $(TOP)/tools/check-conf

# make install [DESTDIR=/staging] [PREFIX=/usr/local]: the module in
# MODULESDIR, a modules-available snippet that loads it by its full path,
# linked from NGINX_CONFDIR/modules-enabled (which Debian's nginx.conf
# includes), the proxy snippets in NGINX_CONFDIR (an edited one is kept,
# the new one written next to it as .new), the examples and docs in DOCDIR
PREFIX        ?= /usr/local
MODULESDIR    ?= $(PREFIX)/lib/nginx/modules
MODAVAILDIR   ?= $(PREFIX)/share/nginx/modules-available
NGINX_CONFDIR ?= /etc/nginx
DOCDIR        ?= $(PREFIX)/share/doc/ngx_http_foundry_module
DESTDIR       ?=
SNIPPETS      := foundry_proxy_params foundry_proxy_location \
                 foundry_proxy_defaults
MOD_CONF      := mod-http-foundry.conf
MOD_LINK      := 50-$(MOD_CONF)

install: build
	install -d $(DESTDIR)$(MODULESDIR) $(DESTDIR)$(MODAVAILDIR) \
	    $(DESTDIR)$(NGINX_CONFDIR)/modules-enabled \
	    $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR)/ops
	install -m 0644 $(MODULE) $(DESTDIR)$(MODULESDIR)/ngx_http_foundry_module.so
	echo "load_module $(MODULESDIR)/ngx_http_foundry_module.so;" \
	    > $(DESTDIR)$(MODAVAILDIR)/$(MOD_CONF)
	ln -sfn $(MODAVAILDIR)/$(MOD_CONF) \
	    $(DESTDIR)$(NGINX_CONFDIR)/modules-enabled/$(MOD_LINK)
	@for f in $(SNIPPETS); do \
	    to=$(DESTDIR)$(NGINX_CONFDIR)/$$f; \
	    if [ -f $$to ] && ! cmp -s conf.d/$$f $$to; then \
	        echo "$$to was edited: kept, the new one is $$to.new"; \
	        to=$$to.new; fi; \
	    echo "install -m 0644 conf.d/$$f $$to"; \
	    install -m 0644 conf.d/$$f $$to; done
	install -m 0644 conf.d/* $(DESTDIR)$(DOCDIR)/examples/
	install -m 0644 ops/* $(DESTDIR)$(DOCDIR)/ops/
	install -m 0644 README.md CHANGELOG.md LICENSE docs/*.md $(DESTDIR)$(DOCDIR)/
	@echo "installed ngx_http_foundry_module $(VERSION); check and reload:" \
	    "nginx -t && systemctl reload nginx"

uninstall:
	rm -f $(DESTDIR)$(NGINX_CONFDIR)/modules-enabled/$(MOD_LINK) \
	    $(DESTDIR)$(MODAVAILDIR)/$(MOD_CONF) \
	    $(DESTDIR)$(MODULESDIR)/ngx_http_foundry_module.so
	@for f in $(SNIPPETS); do \
	    to=$(DESTDIR)$(NGINX_CONFDIR)/$$f; \
	    if [ -f $$to ] && ! cmp -s conf.d/$$f $$to; then \
	        echo "$$to was edited: kept"; else rm -f $$to; fi; \
	    rm -f $$to.new; done
	rm -rf $(DESTDIR)$(DOCDIR)
	-rmdir -p $(DESTDIR)$(MODULESDIR) $(DESTDIR)$(MODAVAILDIR) 2>/dev/null

# the Debian package, in build/ (tools/deb)
deb:
	@DEB=1 $(TOP)/tools/deps
	@BUILD=$(BUILD) $(TOP)/tools/deb

# the operations kit's checks (ops/README.md)
ops-check: build
	@OPS=1 $(TOP)/tools/deps
	@MODULE=$(MODULE) NGINX_BIN=$(NGINX_BIN) $(TOP)/tools/ops-check

style:
	@$(TOP)/tools/style-check src/*.c src/*/*.c src/*/*.h

clean:
	rm -f $(MODULE)
	if [ -d $(NGX_TREE)/objs ]; then rm -rf $(NGX_TREE)/objs/addon; fi

distclean:
	rm -rf $(BUILD) t/servroot*
