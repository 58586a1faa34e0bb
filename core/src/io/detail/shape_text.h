// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Internal: "[2, 3, 4]" for error messages about tensor shapes.

#include <cstdint>
#include <span>
#include <sstream>
#include <string>

namespace brillm::detail {

inline std::string shapeText(std::span<const int64_t> shape) {
    std::ostringstream os;
    os << '[';
    for (size_t i = 0; i < shape.size(); ++i)
        os << (i ? ", " : "") << shape[i];
    os << ']';
    return os.str();
}

} // namespace brillm::detail
