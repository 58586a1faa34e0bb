// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The vector unit the core's kernels run on (decoding, tracing, blame, the training loss).
//
// The kernels are compiled for every x86 target Google Highway knows - SCALAR (no vector
// unit), SSSE3 and SSE4 (128-bit), AVX2 (256-bit, FMA, F16C) and AVX3 (AVX-512) - and the best
// one this CPU supports is used. The environment variable BRILLM_VECTOR_TARGET (read once, at
// the first kernel call) or setVectorTarget() forces another one, for benchmarks and tests.
// Every target gives the same results within float rounding.

#include <string>
#include <vector>

namespace brillm {

// The targets compiled into this build that this CPU runs, best first ("AVX3", "AVX2", "SSE4",
// "SSSE3", "SCALAR").
std::vector<std::string> vectorTargets();
// The target the kernels use now.
std::string activeVectorTarget();
// Forces the kernels onto `name` (case-insensitive; "AVX512" means AVX3; "best" or "" the best
// one). Throws InputError naming the choices for a target that is not compiled in or that this
// CPU does not support. Not to be called while kernels run on other threads.
void setVectorTarget(const std::string& name);

} // namespace brillm
