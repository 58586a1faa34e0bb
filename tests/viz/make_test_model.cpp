// SPDX-License-Identifier: GPL-3.0-or-later
// make_test_model OUT (--text TEXT | --vocab V | --huge-token BYTES): writes a small random model for the studio's
// end-to-end test, timing runs and screenshots.
#include "test_models.h"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s OUT (--text TEXT | --vocab V | --huge-token BYTES)\n", argv[0]);
        return 2;
    }
    try {
        const std::string out = argv[1], mode = argv[2];
        if (mode == "--text")
            brillm::viz::testmodels::makeCharModel(out, argv[3]);
        else if (mode == "--vocab")
            brillm::viz::testmodels::makeLargeModel(out, std::atoi(argv[3]));
        else if (mode == "--huge-token")
            brillm::viz::testmodels::makeHugeTokenModel(out, "the cat sat on the mat. the dog sat on the log.",
                                                        std::strtoull(argv[3], nullptr, 10));
        else {
            std::fprintf(stderr, "unknown option %s\n", mode.c_str());
            return 2;
        }
        std::printf("%s\n", out.c_str());
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "make_test_model: %s\n", e.what());
        return 1;
    }
}
