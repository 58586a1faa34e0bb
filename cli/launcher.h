// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A local launcher in the manner of torchrun --nproc-per-node: starts N copies of this
// executable as the ranks of one job on this machine.

#include <string>
#include <vector>

namespace brillm::cli {

// Runs `brillm <arguments>` N times with RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
// MASTER_ADDR=127.0.0.1 and a free MASTER_PORT set, and waits for them. SIGINT/SIGTERM are
// forwarded to every worker. When a worker fails (non-zero exit or killed by a signal), the
// others get SIGTERM, then SIGKILL after `graceSeconds`, and the launcher reports which rank
// failed. Returns the exit code: 0 when all succeeded, else the failing rank's status (or 1).
int launchLocalWorkers(int workers, const std::vector<std::string>& arguments, double graceSeconds = 10);

} // namespace brillm::cli
