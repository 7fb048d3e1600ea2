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
#   make fuzz-test       C unit tests of the JWT parser, fuzzers 10 s each
#   make fuzz            the fuzzers, FUZZ_TIME seconds each (fuzz/README.md)
#   make bench           benchmarks against plain nginx (docs/benchmarks.md)
#   make check-conf      nginx -t on every file of conf.d/
#   make style           nginx house style checks on src/

SHELL        := /bin/bash
TOP          := $(abspath .)
BUILD        ?= $(TOP)/build
CC           ?= cc
NGINX_SRC    ?=
PROVE_JOBS   ?= $(shell nproc 2>/dev/null || echo 1)
T            ?= t/

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

# Test::Nginx::Socket: the installed one when there is one, else ours
TEST_NGINX_LIB := $(shell perl -MTest::Nginx::Socket -e1 2>/dev/null \
                    || echo $(TOP)/t/runner/lib)
TINI         := $(shell command -v tini 2>/dev/null)

export TEST_NGINX_BINARY       ?= $(NGINX_BIN)
export TEST_NGINX_LOAD_MODULES ?= $(MODULE)
export TEST_NGINX_RANDOMIZE    ?= 1

.PHONY: all build deps test test-only test-valgrind test-asan test-sdk demo \
        demo-token bench fuzz fuzz-test \
        check-conf style clean distclean

all: build

build: $(MODULE)

$(NGX_TREE)/.configured: config
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

bench: deps build
	@BENCH=1 $(TOP)/tools/deps
	$(TOP)/tools/bench $(BENCH_ARGS)

demo-token:
	@$(TOP)/tools/demo-token

demo: deps build
	@$(TOP)/tools/demo

check-conf: build
	@$(TOP)/tools/check-conf

style:
	@$(TOP)/tools/style-check src/*.c src/*/*.c src/*/*.h

clean:
	rm -f $(MODULE)
	if [ -d $(NGX_TREE)/objs ]; then rm -rf $(NGX_TREE)/objs/addon; fi

distclean:
	rm -rf $(BUILD) t/servroot*
