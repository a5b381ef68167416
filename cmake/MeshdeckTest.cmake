# meshdeck_add_test(NAME <name> SOURCES <files...> LIBS <targets...> LABELS <unit|integration|gui>
#                   [TIMEOUT <seconds>] [ENV <VAR=value...>])
#
# One Qt Test executable per class or feature, registered with CTest. GUI tests always run with
# QT_QPA_PLATFORM=offscreen so they need no display. Integration tests find the project's
# binaries through MESHDECK_BIN_DIR.
#
# Every test labelled unit is also a dependency of the unit_tests target, so that the unit tests
# can be built alone (scripts/ci-extra.sh builds them under the sanitizers).
add_custom_target(unit_tests)

function(meshdeck_add_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS;ENV" ${ARGN})
  if(NOT T_NAME OR NOT T_SOURCES OR NOT T_LABELS)
    message(FATAL_ERROR "meshdeck_add_test needs NAME, SOURCES and LABELS")
  endif()
  add_executable(${T_NAME} ${T_SOURCES})
  set_target_properties(${T_NAME} PROPERTIES AUTOMOC ON
    RUNTIME_OUTPUT_DIRECTORY "${PROJECT_BINARY_DIR}/tests")
  meshdeck_target_defaults(${T_NAME})
  target_include_directories(${T_NAME} PRIVATE "${PROJECT_SOURCE_DIR}/tests")
  target_link_libraries(${T_NAME} PRIVATE Qt6::Test ${T_LIBS})
  add_test(NAME ${T_NAME} COMMAND ${T_NAME})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  set(env "MESHDECK_BIN_DIR=${PROJECT_BINARY_DIR}/bin"
          "MESHDECK_SOURCE_DIR=${PROJECT_SOURCE_DIR}" ${T_ENV})
  if("gui" IN_LIST T_LABELS)
    list(APPEND env "QT_QPA_PLATFORM=offscreen")
  endif()
  set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "${env}")
  if("unit" IN_LIST T_LABELS)
    add_dependencies(unit_tests ${T_NAME})
  endif()
endfunction()
