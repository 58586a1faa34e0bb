# SPDX-License-Identifier: GPL-3.0-or-later
# brillm_warnings(target): the project's warning set, applied per target.
option(BRILLM_WERROR "Treat compiler warnings as errors (CI builds with it)" OFF)
function(brillm_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-unused-parameter)
  if(BRILLM_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# brillm_forbid_qt(target): fails the configure step if target links any Qt library.
function(brillm_forbid_qt target)
  get_target_property(libs ${target} LINK_LIBRARIES)
  foreach(lib IN LISTS libs)
    if(lib MATCHES "Qt[0-9]*::|Qt[0-9]*(Core|Gui|Widgets)")
      message(FATAL_ERROR "${target} must not link Qt (found ${lib}): the core stays Qt-free")
    endif()
  endforeach()
endfunction()

# brillm_numeric(target): lets the compiler vectorise sqrt/exp loops (we never read errno).
function(brillm_numeric target)
  target_compile_options(${target} PRIVATE -fno-math-errno)
endfunction()
