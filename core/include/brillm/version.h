// SPDX-License-Identifier: GPL-3.0-or-later
// The BriLLM Studio version: one number, project(VERSION ...) in the top-level CMakeLists.txt,
// shared by `brillm --version`, `brillm-studio --version`, the About box, the Debian package
// and the provenance of every model file and run directory.
#pragma once

namespace brillm {

// "MAJOR.MINOR.PATCH", e.g. "0.1.0".
const char* versionString() noexcept;

} // namespace brillm
