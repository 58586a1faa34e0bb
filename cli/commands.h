// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The brillm subcommands. Each takes its arguments (after the command name) and returns the
// process exit code; errors escape as exceptions and main() turns them into messages.

#include <string>
#include <vector>

namespace brillm::cli {

using Args = std::vector<std::string>;

struct Command {
    const char* name;
    const char* summary;
    int (*run)(const Args& args);
};

int runBench(const Args& args);
int runBenchBlame(const Args& args); // brillm bench blame
int runGenerate(const Args& args);
int runTrace(const Args& args);
int runScore(const Args& args);
int runBlame(const Args& args);
int runPatch(const Args& args);
int runTrain(const Args& args);
int runMergeShards(const Args& args); // brillm merge-shards (training builds)
int runDemo(const Args& args);
int runTokenize(const Args& args);
int runVocab(const Args& args);
int runEdges(const Args& args);
int runEval(const Args& args);
int runSplit(const Args& args);

int runImport(const Args& args);
int runExport(const Args& args);
int runInfo(const Args& args);
int runVerify(const Args& args);
} // namespace brillm::cli
