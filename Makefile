# A thin wrapper over CMake. The README's two commands:
#   make run    install what is missing, build, run the daemon (tpsd serve)
#   make test   install what is missing, build with ASan+UBSan, run every test
BUILD      ?= build
TEST_BUILD ?= build-asan
JOBS       ?= $(shell getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
ARGS       ?=
DESTDIR    ?=

# macOS: Homebrew's prefix (/opt/homebrew on Apple silicon, /usr/local on
# Intel) is the install PREFIX, and curl and sqlite are keg-only there (not
# linked into the prefix: macOS has its own), so pkg-config finds their .pc
# files only through $(brew --prefix)/opt/<formula>/lib/pkgconfig
# (docs.brew.sh, "How to Build Software Outside Homebrew with Homebrew
# keg_only Dependencies"). scripts/deps.sh does the same.
ifeq ($(shell uname -s),Darwin)
BREW_PREFIX := $(shell brew --prefix 2>/dev/null)
ifneq ($(BREW_PREFIX),)
export PKG_CONFIG_PATH := $(BREW_PREFIX)/opt/curl/lib/pkgconfig:$(BREW_PREFIX)/opt/sqlite/lib/pkgconfig$(if $(PKG_CONFIG_PATH),:$(PKG_CONFIG_PATH))
endif
PREFIX ?= $(or $(BREW_PREFIX),/usr/local)
else
PREFIX ?= /usr/local
endif

.PHONY: all deps build run test check-macos install install-bin uninstall demo tsan fuzz bench clean format

all: build

deps:
	@scripts/deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

run: build
	$(BUILD)/tpsd serve $(ARGS)

test:
	@scripts/deps.sh --test
	cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTPSD_SANITIZE=ON >/dev/null
	cmake --build $(TEST_BUILD) -j $(JOBS)
	cd $(TEST_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j $(JOBS) $(ARGS)

# Install the tpsd binary as $(DESTDIR)$(PREFIX)/bin/tpsd: suites, the
# dashboard and the schema are compiled into it, so it needs nothing else.
# launchd/install.sh then points the LaunchAgent at it, not into this clone.
install: build
	@$(MAKE) --no-print-directory install-bin

# The copy alone, from an existing $(BUILD) (tests/install-check.sh uses it).
install-bin:
	install -d "$(DESTDIR)$(PREFIX)/bin"
	install -m 0755 "$(BUILD)/tpsd" "$(DESTDIR)$(PREFIX)/bin/tpsd"

uninstall:
	rm -f "$(DESTDIR)$(PREFIX)/bin/tpsd"

# The macOS build guard alone (lint.macos*, also part of make test): every C
# file cross-compiled for aarch64-macos and x86_64-macos with the project's
# flags by Zig's clang (scripts/check-macos.sh; Zig is test-only).
check-macos:
	@scripts/deps.sh --test
	cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTPSD_SANITIZE=ON >/dev/null
	cd $(TEST_BUILD) && ctest --output-on-failure -R '^lint\.macos'

# A benchmark of the simulator, end to end, with no LM Studio needed.
demo: build
	scripts/demo.sh $(BUILD)

tsan: deps
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DTPSD_TSAN=ON -DCMAKE_C_COMPILER=clang >/dev/null
	cmake --build build-tsan -j $(JOBS)
	cd build-tsan && ctest --output-on-failure -j $(JOBS) $(ARGS)

clean:
	rm -rf $(BUILD) $(TEST_BUILD) build-tsan build-fuzz

format:
	clang-format -i $$(find common daemon api storage tests bench fuzz \( -name build -o -name node_modules \) -prune \
		-o \( -name '*.c' -o -name '*.h' \) -type f -print)
