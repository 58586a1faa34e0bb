// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The core's exception types. Every message names what was wrong and, for files, which file.
// Callers catch at worker and main() boundaries only.

#include <stdexcept>
#include <string>

namespace brillm {

class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A prompt, token id or option the model cannot take (empty prompt, too long, unknown id).
class InputError : public Error {
public:
    using Error::Error;
};

// Tensor shapes or an edge table that do not fit together.
class ShapeError : public Error {
public:
    using Error::Error;
};

class TokenizerError : public Error {
public:
    using Error::Error;
};

class CheckpointError : public Error {
public:
    using Error::Error;
};

// Thrown when a progress callback asked to stop.
class CancelledError : public Error {
public:
    CancelledError() : Error("cancelled") {}
};

} // namespace brillm
