# MESHDECK_FUZZ: every target of the tree is compiled for libFuzzer, ASan and UBSan
# (-fsanitize=fuzzer-no-link instruments for coverage without linking libFuzzer's main), and
# tests/fuzz adds the fuzz executables, linked with -fsanitize=fuzzer, behind one `fuzzers`
# target. Build that target only: it pulls in just the libraries the fuzzers need.
#
# The flags go into CMAKE_<LANG>_FLAGS rather than meshdeck_build_flags so that the generated
# protobuf code, which the fuzzers feed, is instrumented too. Debian's gRPC, protobuf and
# yaml-cpp stay as built (GCC, libstdc++): uninstrumented, but linkable.
if(NOT MESHDECK_FUZZ)
  return()
endif()
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "MESHDECK_FUZZ needs clang (libFuzzer): use the fuzz preset")
endif()
if(MESHDECK_SANITIZE)
  message(FATAL_ERROR "MESHDECK_FUZZ already sanitizes: leave MESHDECK_SANITIZE off")
endif()
# UBSan findings stop the run (a fuzzer only reports what crashes); -O1 keeps the executions
# fast while stacks stay readable. UBSan's `function` check is off: clang 14 cannot emit its
# prologue data for coroutines ("Cannot represent a difference across sections",
# llvm/llvm-project#49689), and the proxy's sessions are coroutines.
set(_meshdeck_fuzz_flags
    "-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize=function -fno-sanitize-recover=undefined -fno-omit-frame-pointer -O1")
string(APPEND CMAKE_C_FLAGS " ${_meshdeck_fuzz_flags}")
string(APPEND CMAKE_CXX_FLAGS " ${_meshdeck_fuzz_flags}")
string(APPEND CMAKE_EXE_LINKER_FLAGS " -fsanitize=address,undefined")
