# A sidecar binary linked statically against its heavy third-party libraries, the way Envoy and
# linkerd2-proxy ship theirs.
#
# Why: one `meshdeck-proxy` runs next to every workload. Linked against Debian's shared gRPC,
# protobuf, abseil (64 libraries), OpenSSL, yaml-cpp and Boost.JSON/URL, an idle proxy has
# ~15 MB resident, 12 MB of it library pages touched by the dynamic loader's symbol lookups
# and by static initialisers. Linked against the same libraries' static archives (shipped in
# the same -dev packages), with relocations packed (DT_RELR) and unused sections dropped, it
# idles at ~9.5 MB and starts faster. spdlog and fmt (Debian ships them shared only) are
# compiled into it from their headers (proxy/link/spdlog_static.cpp, fmt_static.cpp), and then
# libstdc++ and libgcc are linked statically too (MESHDECK_PROXY_STATIC_RUNTIME): no shared
# library the proxy loads is C++ any more (libc, libm, libz, libnghttp2 are C), so no C++ object
# crosses a shared-library boundary and the process has one C++ runtime, its own.
#
# How: the libraries that may be linked either way are named through meshdeck_dep_*
# interface targets. Their link interface picks the shared targets, or the static bundle when
# the executable being linked has the MESHDECK_STATIC_DEPS property set (the generator
# expression is evaluated for the target being linked). Libraries and tests are unchanged;
# only executables that opt in with meshdeck_link_static_deps() get the static bundle.
#
# MESHDECK_STATIC_PROXY (default ON when every archive is found and sanitizers are off)
# turns it on for meshdeck-proxy.

set(_meshdeck_static_names
  grpc++ grpc gpr upb address_sorting re2 cares protobuf ssl crypto yaml-cpp
  boost_json boost_url boost_container)
set(_meshdeck_static_archives "")
set(_meshdeck_static_missing "")
foreach(name IN LISTS _meshdeck_static_names)
  find_library(MESHDECK_STATIC_LIB_${name} NAMES lib${name}.a NO_CACHE)
  if(MESHDECK_STATIC_LIB_${name})
    list(APPEND _meshdeck_static_archives "${MESHDECK_STATIC_LIB_${name}}")
  else()
    list(APPEND _meshdeck_static_missing lib${name}.a)
  endif()
endforeach()
# Abseil is split into ~60 archives with dependencies among them; the linker group below
# resolves them in any order, and only the objects that are needed are pulled in.
get_filename_component(_meshdeck_libdir "${MESHDECK_STATIC_LIB_grpc}" DIRECTORY)
file(GLOB _meshdeck_absl_archives "${_meshdeck_libdir}/libabsl_*.a")
if(NOT _meshdeck_absl_archives)
  list(APPEND _meshdeck_static_missing libabsl_*.a)
endif()

set(_meshdeck_static_default ON)
if(_meshdeck_static_missing OR MESHDECK_SANITIZE)
  set(_meshdeck_static_default OFF)
endif()
option(MESHDECK_STATIC_PROXY
  "Link meshdeck-proxy statically against gRPC, protobuf, abseil, OpenSSL, yaml-cpp, Boost.JSON/URL"
  ${_meshdeck_static_default})
option(MESHDECK_PROXY_STATIC_RUNTIME
  "Link meshdeck-proxy statically against libstdc++, libgcc, spdlog and fmt (with MESHDECK_STATIC_PROXY)" ON)
option(MESHDECK_PROXY_STARTUP_ORDER
  "Link meshdeck-proxy with lld, its start-to-idle code grouped by proxy/link/startup_order.txt" ON)
if(MESHDECK_STATIC_PROXY AND _meshdeck_static_missing)
  message(FATAL_ERROR "MESHDECK_STATIC_PROXY: missing static archives: ${_meshdeck_static_missing}")
endif()

add_library(meshdeck_static_bundle INTERFACE)
if(_meshdeck_static_archives)
  target_link_libraries(meshdeck_static_bundle INTERFACE
    "$<LINK_GROUP:RESCAN,${_meshdeck_static_archives};${_meshdeck_absl_archives}>"
    z Threads::Threads ${CMAKE_DL_LIBS} m rt atomic)
endif()
target_include_directories(meshdeck_static_bundle SYSTEM INTERFACE ${Protobuf_INCLUDE_DIRS}
  "${OPENSSL_INCLUDE_DIR}")

# meshdeck_dep_<name>: the shared targets normally, the static bundle for opted-in executables.
set(_meshdeck_static_head "$<BOOL:$<TARGET_PROPERTY:MESHDECK_STATIC_DEPS>>")
function(meshdeck_switchable_dep name)
  add_library(meshdeck_dep_${name} INTERFACE)
  foreach(shared IN LISTS ARGN)
    target_link_libraries(meshdeck_dep_${name} INTERFACE "$<$<NOT:${_meshdeck_static_head}>:${shared}>")
    # Compile-time usage requirements (include directories, definitions) are the same either way.
    target_include_directories(meshdeck_dep_${name} SYSTEM INTERFACE
      "$<TARGET_PROPERTY:${shared},INTERFACE_INCLUDE_DIRECTORIES>")
    target_compile_definitions(meshdeck_dep_${name} INTERFACE
      "$<TARGET_PROPERTY:${shared},INTERFACE_COMPILE_DEFINITIONS>")
  endforeach()
  target_link_libraries(meshdeck_dep_${name} INTERFACE "$<${_meshdeck_static_head}:meshdeck_static_bundle>")
endfunction()

meshdeck_switchable_dep(proto protobuf::libprotobuf gRPC::grpc++)
meshdeck_switchable_dep(ssl OpenSSL::SSL OpenSSL::Crypto)
meshdeck_switchable_dep(crypto OpenSSL::Crypto)
meshdeck_switchable_dep(yaml yaml-cpp)
meshdeck_switchable_dep(boost_json Boost::json)
meshdeck_switchable_dep(boost_url Boost::url)

# spdlog and fmt: libspdlog.so and libfmt.so normally; for opted-in executables, their code
# compiled from the packaged headers into one archive (meshdeck_logging_static). The libraries
# that log are compiled the same either way (spdlog's compiled-library definitions); only the
# link differs. Their functions one per section, so the link keeps only what is called.
add_library(meshdeck_logging_static STATIC EXCLUDE_FROM_ALL
  "${PROJECT_SOURCE_DIR}/proxy/link/spdlog_static.cpp"
  "${PROJECT_SOURCE_DIR}/proxy/link/fmt_static.cpp")
target_compile_features(meshdeck_logging_static PUBLIC cxx_std_20)
target_compile_options(meshdeck_logging_static PRIVATE -ffunction-sections -fdata-sections)
target_compile_definitions(meshdeck_logging_static PUBLIC
  "$<TARGET_PROPERTY:spdlog::spdlog,INTERFACE_COMPILE_DEFINITIONS>"
  "$<TARGET_PROPERTY:fmt::fmt,INTERFACE_COMPILE_DEFINITIONS>")
target_include_directories(meshdeck_logging_static SYSTEM PUBLIC
  "$<TARGET_PROPERTY:spdlog::spdlog,INTERFACE_INCLUDE_DIRECTORIES>"
  "$<TARGET_PROPERTY:fmt::fmt,INTERFACE_INCLUDE_DIRECTORIES>")
target_link_libraries(meshdeck_logging_static PUBLIC Threads::Threads)
add_library(meshdeck_dep_spdlog INTERFACE)
target_link_libraries(meshdeck_dep_spdlog INTERFACE
  "$<IF:${_meshdeck_static_head},meshdeck_logging_static,spdlog::spdlog>")
add_library(meshdeck_dep_fmt INTERFACE)
target_link_libraries(meshdeck_dep_fmt INTERFACE
  "$<IF:${_meshdeck_static_head},meshdeck_logging_static,fmt::fmt>")

# Opts an executable into the static bundle (when MESHDECK_STATIC_PROXY is on).
#
# ORDER_FILE: with lld, the functions the binary runs from start to idle are placed together at
# the front of .text, in the order of that file (`--symbol-ordering-file`, one mangled symbol a
# line; scripts/proxy_order_file.sh writes it). The kernel maps the text of a file 64 KB around
# every page touched (fault-around), so code run at start spread over the whole 11 MB of .text
# makes ~7 MB of it resident; grouped, ~4 MB (docs/benchmarks.md, "Sidecar memory"). Names the
# file lists that the binary no longer has are ignored: a stale file only groups less. A map of
# the link is written next to the binary's objects (<target>.map) for the script.
function(meshdeck_link_static_deps target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "ORDER_FILE" "")
  if(NOT MESHDECK_STATIC_PROXY)
    return()
  endif()
  set_target_properties(${target} PROPERTIES MESHDECK_STATIC_DEPS ON)
  include(CheckLinkerFlag)
  target_link_options(${target} PRIVATE -Wl,--gc-sections -Wl,--as-needed)
  if(MESHDECK_PROXY_STATIC_RUNTIME)
    # Safe only because nothing the binary loads is C++ (see the top of this file);
    # proxy_runtime_link_test checks that no shared C++ library is loaded.
    target_link_options(${target} PRIVATE -static-libstdc++ -static-libgcc)
  endif()
  set(order OFF)
  if(arg_ORDER_FILE AND MESHDECK_PROXY_STARTUP_ORDER)
    check_linker_flag(CXX "-fuse-ld=lld" MESHDECK_HAVE_LLD)
    set(order ${MESHDECK_HAVE_LLD})
  endif()
  if(order)
    target_link_options(${target} PRIVATE -fuse-ld=lld
      "LINKER:--symbol-ordering-file=${arg_ORDER_FILE}" "LINKER:--no-warn-symbol-ordering"
      "LINKER:-Map=${CMAKE_CURRENT_BINARY_DIR}/${target}.map"
      # Symbols in the map as the order file names them: mangled. lld demangles with LLVM's
      # demangler ("'lambda'()") and c++filt with GNU's ("{lambda()#1}"), so every function
      # with a lambda in its name (most Asio/Beast handlers) was left out of the order.
      "LINKER:--no-demangle")
    set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS "${arg_ORDER_FILE}")
    check_linker_flag(CXX "-fuse-ld=lld;LINKER:--fatal-warnings;LINKER:-z,pack-relative-relocs"
      MESHDECK_LLD_HAVE_RELR)
    if(MESHDECK_LLD_HAVE_RELR)
      target_link_options(${target} PRIVATE -Wl,-z,pack-relative-relocs)
    else()
      # lld 14 packs but does not add the version glibc checks for (proxy/link/relr_version_ref.cpp).
      target_sources(${target} PRIVATE "${PROJECT_SOURCE_DIR}/proxy/link/relr_version_ref.cpp")
      target_link_options(${target} PRIVATE "LINKER:--pack-dyn-relocs=relr"
        "LINKER:-u,meshdeck_relr_version_ref")
    endif()
    return()
  endif()
  check_linker_flag(CXX "-Wl,-z,pack-relative-relocs" MESHDECK_HAVE_RELR)
  if(MESHDECK_HAVE_RELR)
    # Position-independent relocations packed (DT_RELR, glibc >= 2.36): the loader reads a
    # few KB instead of ~1 MB of .rela.dyn at start.
    target_link_options(${target} PRIVATE -Wl,-z,pack-relative-relocs)
  endif()
endfunction()
