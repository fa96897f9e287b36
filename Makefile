# slm: one binary, one library of objects shared by the binary and the tests.
#   make            build ./slm (CUDA backend too when nvcc is found; CUDA=0 skips it)
#   make deps       install the Debian packages the build needs (does nothing when present)
#   make run        generate text with MODEL (default: ../shared/models/stories260K) and PROMPT
#   make test       build and run every test; the last line is "N passed, N failed"
#   make asan       the same tests built with AddressSanitizer + UndefinedBehaviorSanitizer
#   make fuzz       the parsers' libFuzzer harnesses (tests/fuzz_*.c), built with clang and run (tests/fuzz.sh)

CC      ?= cc
OPT     ?= -O2
BUILD   ?= build
BIN     ?= slm
CFLAGS  := -std=c11 $(OPT) -g -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE -fno-math-errno \
           -I/usr/include/x86_64-linux-gnu/openblas-pthread $(EXTRA_CFLAGS)
LDLIBS  := -lopenblas -lcjson -lpcre2-8 -lutf8proc -lpthread -lm
LDFLAGS := $(EXTRA_LDFLAGS)

# SIMD variants are compiled per file; the CPU is checked at run time before any of them is called.
AVX2_FLAGS   := -mavx2 -mfma -mf16c
AVX512_FLAGS := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx512bf16 -mgfni -mfma -mf16c

LIB_SRC := $(wildcard kernels/cpu/*.c runtime/*.c model/*.c tokenizer/*.c router/*.c bench/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tools/*.c))
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

# CUDA backend: built when nvcc exists unless CUDA=0.
NVCC ?= $(shell command -v nvcc 2>/dev/null)
ifeq ($(CUDA),0)
  NVCC :=
endif
CU_SRC := $(wildcard kernels/cuda/*.cu)
ifneq ($(NVCC),)
ifneq ($(CU_SRC),)
  CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
  NVCC_FLAGS ?= -O2 -std=c++17 -Xcompiler -Wall \
      -gencode arch=compute_80,code=sm_80 -gencode arch=compute_86,code=sm_86 \
      -gencode arch=compute_89,code=sm_89 -gencode arch=compute_90,code=sm_90 \
      -gencode arch=compute_90,code=compute_90
  LIB_OBJ += $(CU_SRC:%.cu=$(BUILD)/%.o)
  NVCC_FLAGS += -DSLM_CUDA_LIBDIR='"$(CUDA_HOME)/lib64"'
  CFLAGS  += -DSLM_CUDA -I$(CUDA_HOME)/include
  # cuBLAS is opened with dlopen when the CUDA backend starts (kernels/cuda/cublas_api.h), not linked.
  LDLIBS  += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudart -ldl -lstdc++
endif
endif

.PHONY: all deps run test asan fuzz clean FORCE
all: $(BIN)

# The commit the binary is built from, for `slm --version` and `slm bench`: the header is rewritten only
# when the commit changes, so that nothing else is rebuilt.
COMMIT := $(shell git describe --always --dirty --abbrev=9 2>/dev/null || echo unknown)
$(BUILD)/commit.h: FORCE
	@mkdir -p $(dir $@)
	@echo '#define SLM_COMMIT "$(COMMIT)"' > $@.tmp
	@if cmp -s $@.tmp $@; then rm $@.tmp; else mv $@.tmp $@; fi
$(BUILD)/runtime/version.o: $(BUILD)/commit.h
$(BUILD)/runtime/version.o: CFLAGS += -I$(BUILD)

$(BIN): $(CLI_OBJ) $(LIB_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(AVX2_FLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(AVX512_FLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(LIB_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

DEB_PACKAGES := build-essential libopenblas-dev libcjson-dev libpcre2-dev libutf8proc-dev
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

MODEL  ?= ../shared/models/stories260K
PROMPT ?= Once upon a time
run: deps
	$(MAKE) $(BIN)
	./$(BIN) run -m $(MODEL) -p "$(PROMPT)" -n 200

test: deps
	$(MAKE) $(BIN) $(TEST_BIN)
	@BUILD=$(BUILD) SLM=./$(BIN) sh tests/run.sh

asan: deps
	$(MAKE) BUILD=build/asan CUDA=0 OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	    EXTRA_LDFLAGS="-fsanitize=address,undefined" build/asan/slm-asan build/asan/tests-all
	@BUILD=build/asan SLM=build/asan/slm-asan ASAN_OPTIONS=detect_leaks=1 SLM_ASAN=1 sh tests/run.sh

build/asan/slm-asan: $(CLI_OBJ) $(LIB_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
build/asan/tests-all: $(TEST_BIN)
	@touch $@

# The harnesses link the same objects as the binary, compiled by clang with coverage for libFuzzer and
# under the sanitizers. FUZZ_RUNS inputs each from a fixed seed (CI), or FUZZ_SECONDS=N for a longer hunt.
FUZZ_BIN := $(patsubst tests/%.c,build/fuzz/%,$(wildcard tests/fuzz_*.c))
fuzz: deps
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="clang libclang-rt-dev"
	$(MAKE) BUILD=build/fuzz CC=clang CUDA=0 \
	    OPT="-O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" \
	    EXTRA_LDFLAGS="-fsanitize=fuzzer,address,undefined" $(FUZZ_BIN)
	$(MAKE) $(BIN)
	@SLM=./$(BIN) sh tests/fuzz.sh build/fuzz

build/fuzz/fuzz_%: build/fuzz/tests/fuzz_%.o $(LIB_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
.PRECIOUS: build/fuzz/tests/fuzz_%.o

clean:
	rm -rf build slm

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
