// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The simplest correct blame: for every contributor of a report, ablate it in place in a float64
// copy of the model and recompute the margin from scratch with the decoder's scorer. The
// baseline (and the check) of `brillm bench blame`.

#include "brillm/model/blame.h"
#include "brillm/model/model.h"

#include <cstdint>
#include <vector>

namespace brillm::bench {

// The margin energy(path -> a) - energy(path -> b), from the start of the path.
double marginFromScratch(const Model& m, const std::vector<int32_t>& path, int32_t a, int32_t b);

// Each contributor of `report` ablated in `m` (float64; restored afterwards) and the margin
// recomputed from the start. Returns the largest disagreement with the report's marginAfter.
double bruteForce(Model& m, const BlameReport& report);

} // namespace brillm::bench
