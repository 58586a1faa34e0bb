// SPDX-License-Identifier: GPL-3.0-or-later
// The CLI's option parser: help texts print the value each option is bound to.
#include "args.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace brillm::cli {
namespace {

TEST(ArgParser, HelpPrintsTheBoundDefaults) {
    int64_t steps = 1500;
    double lr = 0.05;
    std::string kind = "char", empty;
    std::vector<std::string> orders{"1", "2", "3"};
    bool quiet = false;
    ArgParser p("brillm x", "summary");
    p.option("steps", &steps, "N", "steps (default {default})");
    p.option("lr", &lr, "LR", "rate (default {default}; 0: off)");
    p.option("kind", &kind, "K", "kind (default {default})");
    p.option("none", &empty, "S", "nothing (default {default})");
    p.list("orders", &orders, "LIST", "orders (default {default})");
    p.flag("quiet", &quiet, "quiet (default {default})");
    const std::string h = p.help();
    EXPECT_NE(h.find("steps (default 1500)"), std::string::npos) << h;
    EXPECT_NE(h.find("rate (default 0.05; 0: off)"), std::string::npos) << h;
    EXPECT_NE(h.find("kind (default char)"), std::string::npos) << h;
    EXPECT_NE(h.find("nothing (default none)"), std::string::npos) << h;
    EXPECT_NE(h.find("orders (default 1,2,3)"), std::string::npos) << h;
    EXPECT_NE(h.find("quiet (default off)"), std::string::npos) << h;
    EXPECT_EQ(h.find("{default}"), std::string::npos) << h;
}

TEST(ArgParser, TheDefaultShownIsTheValueAtRegistrationNotAfterParsing) {
    int64_t k = 400;
    ArgParser p("brillm x", "summary");
    p.option("negatives", &k, "K", "negatives (default {default})");
    ASSERT_TRUE(p.parse({"--negatives", "9"}));
    EXPECT_EQ(k, 9);
    EXPECT_NE(p.help().find("negatives (default 400)"), std::string::npos);
}

} // namespace
} // namespace brillm::cli
