// SPDX-License-Identifier: GPL-3.0-or-later
#include "args.h"

#include <algorithm>
#include <iostream>
#include <sstream>

namespace brillm::cli {

namespace {

template <class T, class F>
std::function<void(const std::string&)> numberSetter(const std::string& name, T* out, F convert) {
    return [name, out, convert](const std::string& v) {
        try {
            size_t used = 0;
            *out = convert(v, &used);
            if (used != v.size()) throw std::invalid_argument(v);
        } catch (const std::exception&) {
            throw UsageError("--" + name + ": '" + v + "' is not a valid number");
        }
    };
}

std::string numberText(double v) {
    std::ostringstream os;
    os << v; // shortest of %g at 6 digits: 0.05, 1e-08, 400
    return os.str();
}

} // namespace

ArgParser::ArgParser(std::string command, std::string summary)
    : m_command(std::move(command)), m_summary(std::move(summary)) {}

void ArgParser::flag(const std::string& name, bool* out, const std::string& help) {
    m_opts.push_back(
        {name, "", help, *out ? "on" : "off", true, false, false, false, [out](const std::string&) { *out = true; }});
}

void ArgParser::option(const std::string& name, std::string* out, const std::string& metavar, const std::string& help) {
    m_opts.push_back(
        {name, metavar, help, *out, false, false, false, false, [out](const std::string& v) { *out = v; }});
}

void ArgParser::option(const std::string& name, int64_t* out, const std::string& metavar, const std::string& help) {
    m_opts.push_back({name, metavar, help, std::to_string(*out), false, false, false, false,
                      numberSetter(name, out, [](const std::string& s, size_t* u) { return std::stoll(s, u); })});
}

void ArgParser::option(const std::string& name, uint64_t* out, const std::string& metavar, const std::string& help) {
    m_opts.push_back({name, metavar, help, std::to_string(*out), false, false, false, false,
                      numberSetter(name, out, [](const std::string& s, size_t* u) {
                          if (!s.empty() && s[0] == '-') throw std::invalid_argument(s);
                          return std::stoull(s, u);
                      })});
}

void ArgParser::option(const std::string& name, double* out, const std::string& metavar, const std::string& help) {
    m_opts.push_back({name, metavar, help, numberText(*out), false, false, false, false,
                      numberSetter(name, out, [](const std::string& s, size_t* u) { return std::stod(s, u); })});
}

void ArgParser::list(const std::string& name, std::vector<std::string>* out, const std::string& metavar,
                     const std::string& help) {
    std::string bound;
    for (const auto& v : *out)
        bound += (bound.empty() ? "" : ",") + v;
    m_opts.push_back(
        {name, metavar, help, bound, false, true, false, false, [out](const std::string& v) { out->push_back(v); }});
}

void ArgParser::positional(const std::string& name, std::string* out, const std::string& help, bool required) {
    m_pos.push_back({name, help, out, required});
}

void ArgParser::required(const std::string& name) {
    if (Opt* o = find(name)) o->required = true;
}

ArgParser::Opt* ArgParser::find(const std::string& name) {
    for (auto& o : m_opts)
        if (o.name == name) return &o;
    return nullptr;
}

bool ArgParser::given(const std::string& name) const {
    for (const auto& o : m_opts)
        if (o.name == name) return o.seen;
    return false;
}

bool ArgParser::parse(const std::vector<std::string>& args) {
    size_t nextPos = 0;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--help" || a == "-h") {
            std::cout << help();
            return false;
        }
        if (a.rfind("--", 0) == 0 && a.size() > 2) {
            std::string name = a.substr(2), value;
            bool hasValue = false;
            if (auto eq = name.find('='); eq != std::string::npos) {
                value = name.substr(eq + 1);
                name = name.substr(0, eq);
                hasValue = true;
            }
            Opt* o = find(name);
            if (!o) throw UsageError("unknown option --" + name + " (see '" + m_command + " --help')");
            if (o->seen && !o->repeat) throw UsageError("option --" + name + " given twice");
            o->seen = true;
            if (o->isFlag) {
                if (hasValue) throw UsageError("option --" + name + " takes no value");
                o->set("");
                continue;
            }
            if (!hasValue) {
                if (i + 1 >= args.size()) throw UsageError("option --" + name + " needs a value (" + o->metavar + ")");
                value = args[++i];
            }
            o->set(value);
            continue;
        }
        if (nextPos >= m_pos.size())
            throw UsageError("unexpected argument '" + a + "' (see '" + m_command + " --help')");
        *m_pos[nextPos++].out = a;
    }
    for (size_t p = nextPos; p < m_pos.size(); ++p)
        if (m_pos[p].required)
            throw UsageError("missing argument " + m_pos[p].name + " (see '" + m_command + " --help')");
    for (const auto& o : m_opts)
        if (o.required && !o.seen) throw UsageError("missing option --" + o.name + " (see '" + m_command + " --help')");
    return true;
}

std::string ArgParser::help() const {
    std::ostringstream os;
    os << "usage: " << m_command;
    for (const auto& o : m_opts)
        if (o.required) os << " --" << o.name << ' ' << o.metavar;
    if (std::any_of(m_opts.begin(), m_opts.end(), [](const Opt& o) { return !o.required; })) os << " [options]";
    for (const auto& p : m_pos)
        os << (p.required ? " " : " [") << p.name << (p.required ? "" : "]");
    os << "\n\n" << m_summary << "\n";
    if (!m_pos.empty()) {
        os << "\narguments:\n";
        for (const auto& p : m_pos)
            os << "  " << p.name << std::string(p.name.size() < 24 ? 24 - p.name.size() : 1, ' ') << p.help << '\n';
    }
    os << "\noptions:\n";
    for (const auto& o : m_opts) {
        std::string left = "--" + o.name + (o.metavar.empty() ? "" : " " + o.metavar);
        std::string text = o.help;
        for (size_t at; (at = text.find("{default}")) != std::string::npos;)
            text.replace(at, 9, o.boundValue.empty() ? "none" : o.boundValue);
        os << "  " << left << std::string(left.size() < 24 ? 24 - left.size() : 1, ' ') << text << '\n';
    }
    os << "  --help                  show this help\n";
    return os.str();
}

int dispatchSubcommand(const std::string& command, const std::vector<std::string>& args,
                       const std::vector<Subcommand>& subcommands) {
    std::string usage = "usage: " + command + " SUBCOMMAND [options]   (" + command +
                        " SUBCOMMAND --help for details)\n\nsubcommands:\n";
    std::string names;
    for (const auto& s : subcommands) {
        const std::string n = s.name;
        usage += "  " + n + std::string(n.size() < 12 ? 12 - n.size() : 1, ' ') + s.summary + "\n";
        names += (names.empty() ? "" : ", ") + n;
    }
    if (args.empty()) {
        std::cerr << usage;
        return 2;
    }
    if (args[0] == "--help" || args[0] == "-h") {
        std::cout << usage;
        return 0;
    }
    for (const auto& s : subcommands)
        if (args[0] == s.name) return s.run(std::vector<std::string>(args.begin() + 1, args.end()));
    throw UsageError("unknown subcommand '" + args[0] + "' (" + names + ")");
}

std::vector<int64_t> parseIdList(const std::string& text, const std::string& option) {
    std::vector<int64_t> ids;
    std::stringstream ss(text);
    std::string item;
    while (std::getline(ss, item, ',')) {
        try {
            size_t used = 0;
            ids.push_back(std::stoll(item, &used));
            if (used != item.size()) throw std::invalid_argument(item);
        } catch (const std::exception&) {
            throw UsageError("--" + option + ": '" + item + "' is not a node id");
        }
    }
    return ids;
}

} // namespace brillm::cli
