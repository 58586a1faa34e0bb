// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A small option parser for the brillm subcommands: --name VALUE, --name=VALUE, boolean
// --flag, positional arguments, and a generated --help. An option's help may say
// "(default {default})": the help prints the value the option is bound to when it is
// registered (the config struct's default, or the chosen recipe's), so help and behaviour
// cannot drift apart. Never type a default value into a help text by hand.

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace brillm::cli {

class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class ArgParser {
public:
    ArgParser(std::string command, std::string summary);

    void flag(const std::string& name, bool* out, const std::string& help);
    void option(const std::string& name, std::string* out, const std::string& metavar, const std::string& help);
    void option(const std::string& name, int64_t* out, const std::string& metavar, const std::string& help);
    void option(const std::string& name, double* out, const std::string& metavar, const std::string& help);
    void option(const std::string& name, uint64_t* out, const std::string& metavar, const std::string& help);
    // Repeatable option: each occurrence appends.
    void list(const std::string& name, std::vector<std::string>* out, const std::string& metavar,
              const std::string& help);
    void positional(const std::string& name, std::string* out, const std::string& help, bool required = true);
    void required(const std::string& name); // an option that must be given

    // Returns false when --help was printed (exit 0). Throws UsageError on bad arguments.
    bool parse(const std::vector<std::string>& args);
    bool given(const std::string& name) const;
    std::string help() const;

private:
    struct Opt {
        std::string name, metavar, help;
        std::string boundValue; // the value bound when registered: what "{default}" prints
        bool isFlag = false, repeat = false, required = false, seen = false;
        std::function<void(const std::string&)> set;
    };
    struct Pos {
        std::string name, help;
        std::string* out;
        bool required;
    };
    Opt* find(const std::string& name);

    std::string m_command, m_summary;
    std::vector<Opt> m_opts;
    std::vector<Pos> m_pos;
};

struct Subcommand {
    const char* name;
    const char* summary;
    int (*run)(const std::vector<std::string>& args);
};

// Runs the subcommand args[0] names with the rest of args; prints the list for --help (exit 0)
// or no arguments (exit 2); throws UsageError for an unknown one.
int dispatchSubcommand(const std::string& command, const std::vector<std::string>& args,
                       const std::vector<Subcommand>& subcommands);

// Splits "1,2,3" into integers; throws UsageError naming the option on a bad entry.
std::vector<int64_t> parseIdList(const std::string& text, const std::string& option);

} // namespace brillm::cli
