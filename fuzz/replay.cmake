# Replay of the fuzz corpora without libFuzzer, included at the end of tests/CMakeLists.txt so
# it is part of every build (not only DRKIT_FUZZ=ON). For each fuzz/fuzz_<name>.c:
#   - executable fuzz_<name>_replay: the target + fuzz/standalone.c, normal compiler and flags
#     (so ASan/UBSan when DRKIT_SANITIZE=ON);
#   - CTest test fuzz/replay_<name> (labels "unit" and "fuzz"): runs it over fuzz/corpus/<name>/.
# Also builds fuzz_gen_corpus (fuzz/gen_corpus.c), which writes the seed corpora; building it
# always keeps it in step with the encoders it calls. See fuzz/README.md.
set(DRKIT_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR})
# DRKIT_WARNINGS is written for gcc; clang does not know -Wno-format-truncation.
set(DRKIT_FUZZ_REPLAY_FLAGS ${DRKIT_WARNINGS} $<$<C_COMPILER_ID:Clang>:-Wno-unknown-warning-option>)

file(GLOB DRKIT_FUZZ_TARGETS CONFIGURE_DEPENDS ${DRKIT_FUZZ_DIR}/fuzz_*.c)
foreach(src ${DRKIT_FUZZ_TARGETS})
  get_filename_component(target ${src} NAME_WE)
  string(REGEX REPLACE "^fuzz_" "" name ${target})
  add_executable(${target}_replay ${src} ${DRKIT_FUZZ_DIR}/standalone.c)
  target_link_libraries(${target}_replay PRIVATE drkit_core)
  target_compile_options(${target}_replay PRIVATE ${DRKIT_FUZZ_REPLAY_FLAGS})
  add_test(NAME fuzz/replay_${name}
           COMMAND ${target}_replay ${DRKIT_FUZZ_DIR}/corpus/${name})
  set_tests_properties(fuzz/replay_${name} PROPERTIES LABELS "unit;fuzz" TIMEOUT 300)
endforeach()

add_executable(fuzz_gen_corpus ${DRKIT_FUZZ_DIR}/gen_corpus.c)
target_link_libraries(fuzz_gen_corpus PRIVATE drkit_core)
target_compile_options(fuzz_gen_corpus PRIVATE ${DRKIT_FUZZ_REPLAY_FLAGS})
