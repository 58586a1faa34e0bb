// SPDX-License-Identifier: GPL-3.0-or-later
// The fused GPU step's kernels compiled for their CPU emulation (BRILLM_FUSED_EMULATE).
#include "cuda/fused_kernels.cu"
