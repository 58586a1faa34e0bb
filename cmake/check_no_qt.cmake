# SPDX-License-Identifier: GPL-3.0-or-later
# cmake -DDIR=<core dir> -P check_no_qt.cmake: fails if any core file includes a Qt header.
file(GLOB_RECURSE files "${DIR}/*.h" "${DIR}/*.hpp" "${DIR}/*.cpp")
set(bad "")
foreach(f IN LISTS files)
  file(STRINGS "${f}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]Q[A-Za-z]")
  if(lines)
    list(APPEND bad "${f}")
  endif()
endforeach()
if(bad)
  message(FATAL_ERROR "core/ must not include Qt headers: ${bad}")
endif()
message(STATUS "core/ is Qt-free (${CMAKE_CURRENT_LIST_FILE})")
