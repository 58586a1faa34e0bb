// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/version.h"

#ifndef BRILLM_PROJECT_VERSION
#error "BRILLM_PROJECT_VERSION is set by core/CMakeLists.txt from project(VERSION)"
#endif

namespace brillm {

const char* versionString() noexcept {
    return BRILLM_PROJECT_VERSION;
}

} // namespace brillm
