// SPDX-License-Identifier: GPL-3.0-or-later
// The fused GPU step's host code over the kernels' CPU emulation (BRILLM_FUSED_EMULATE).
#include "fused_step.cpp"
