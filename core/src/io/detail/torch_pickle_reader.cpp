// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/io/torch_pickle_reader.h"

#include "brillm/error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <limits>
#include <unordered_map>

namespace brillm {

namespace {

using nlohmann::json;

// The provenance keeps a checkpoint's non-tensor extras as JSON, each string at most this long
// (docs/model-file.md): a 50 MB string in a checkpoint must not become 50 MB of metadata.
constexpr size_t kMaxExtraString = 4096;

// s itself, or its first kMaxExtraString bytes (cut before a UTF-8 continuation byte) and a note.
std::string boundedString(const std::string& s) {
    if (s.size() <= kMaxExtraString) return s;
    size_t n = kMaxExtraString;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80)
        --n;
    return s.substr(0, n) + "... (" + std::to_string(s.size()) + " bytes, cut)";
}

enum class Kind : uint8_t { None, Bool, Int, Float, Str, Bytes, Tuple, List, Dict, Global, Storage, Tensor, Object };

const char* kindName(Kind k) {
    switch (k) {
    case Kind::None:
        return "None";
    case Kind::Bool:
        return "bool";
    case Kind::Int:
        return "int";
    case Kind::Float:
        return "float";
    case Kind::Str:
        return "str";
    case Kind::Bytes:
        return "bytes";
    case Kind::Tuple:
        return "tuple";
    case Kind::List:
        return "list";
    case Kind::Dict:
        return "dict";
    case Kind::Global:
        return "class or function";
    case Kind::Storage:
        return "storage";
    case Kind::Tensor:
        return "tensor";
    case Kind::Object:
        return "object";
    }
    return "value";
}

// The allowed names; GLOBAL of anything else is an error.
enum class Callable : uint8_t {
    OrderedDict,
    RebuildTensorV2,
    RebuildTensor,
    RebuildParameter,
    RebuildParameterWithState,
    Storage,
    Namespace,
    Size,
    Device,
    Set,
    CodecsEncode
};

struct Value {
    Kind kind = Kind::None;
    int64_t i = 0; // Int, Bool; Global: Callable; Storage/Tensor: index into the side tables
    double f = 0;
    std::string s;                          // Str, Bytes; Global and Object: the qualified name
    std::vector<uint32_t> items;            // Tuple/List elements; Dict k0, v0, k1, v1, ...; Object: [state]
    StorageDtype dtype = StorageDtype::F32; // Global of a storage class
};

struct StorageInfo {
    std::string key;
    StorageDtype dtype;
    int64_t numel;
};

struct StorageName {
    const char* name;
    StorageDtype dtype;
};
constexpr StorageName kStorages[] = {
    {"DoubleStorage", StorageDtype::F64},    {"FloatStorage", StorageDtype::F32}, {"HalfStorage", StorageDtype::F16},
    {"BFloat16Storage", StorageDtype::BF16}, {"LongStorage", StorageDtype::I64},  {"IntStorage", StorageDtype::I32},
    {"ShortStorage", StorageDtype::I16},     {"CharStorage", StorageDtype::I8},   {"ByteStorage", StorageDtype::U8},
    {"BoolStorage", StorageDtype::Bool},
};

class Unpickler {
public:
    static constexpr size_t kMaxValues = size_t{16} << 20;

    Unpickler(std::span<const std::byte> data, const std::string& where) : m_data(data), m_where(where) {}

    uint32_t run();
    TorchStateDict stateDict(uint32_t top);

private:
    [[noreturn]] void fail(const std::string& what) const {
        throw CheckpointError(m_where + ": " + what + " (at byte " + std::to_string(m_opStart) + ")");
    }
    const std::byte* take(uint64_t n) {
        if (n > m_data.size() - m_pos) fail("the pickle ends in the middle of an opcode (truncated)");
        const std::byte* p = m_data.data() + m_pos;
        m_pos += static_cast<size_t>(n);
        return p;
    }
    uint64_t le(int n) {
        const std::byte* p = take(static_cast<uint64_t>(n));
        uint64_t v = 0;
        for (int i = n - 1; i >= 0; --i)
            v = (v << 8) | std::to_integer<uint64_t>(p[i]);
        return v;
    }
    std::string bytes(uint64_t n) {
        const std::byte* p = take(n);
        return {reinterpret_cast<const char*>(p), static_cast<size_t>(n)};
    }
    std::string line() {
        const size_t start = m_pos;
        while (m_pos < m_data.size() && m_data[m_pos] != std::byte{'\n'}) {
            if (m_pos - start > 256) fail("a GLOBAL name longer than 256 bytes");
            ++m_pos;
        }
        if (m_pos >= m_data.size()) fail("the pickle ends inside a GLOBAL name (truncated)");
        std::string s(reinterpret_cast<const char*>(m_data.data() + start), m_pos - start);
        ++m_pos;
        return s;
    }

    uint32_t make(Value v) {
        // A state dict's pickle holds a few values per tensor; this bounds memory on hostile input.
        if (m_values.size() >= kMaxValues)
            fail("more than " + std::to_string(kMaxValues) + " values: not a state dict");
        m_values.push_back(std::move(v));
        return static_cast<uint32_t>(m_values.size() - 1);
    }
    uint32_t makeInt(int64_t i) { return make({Kind::Int, i, 0, {}, {}, {}}); }
    uint32_t makeKind(Kind k, std::string s = {}) { return make({k, 0, 0, std::move(s), {}, {}}); }
    Value& at(uint32_t idx) { return m_values[idx]; }

    void push(uint32_t v) { m_stack.push_back(v); }
    uint32_t pop() {
        if (m_stack.size() <= floor()) fail("stack underflow (a malformed pickle)");
        const uint32_t v = m_stack.back();
        m_stack.pop_back();
        return v;
    }
    uint32_t& top() {
        if (m_stack.size() <= floor()) fail("stack underflow (a malformed pickle)");
        return m_stack.back();
    }
    size_t floor() const { return m_marks.empty() ? 0 : m_marks.back(); }
    std::vector<uint32_t> popMark() {
        if (m_marks.empty()) fail("an opcode needs a MARK that is not there");
        const size_t m = m_marks.back();
        m_marks.pop_back();
        std::vector<uint32_t> items(m_stack.begin() + static_cast<std::ptrdiff_t>(m), m_stack.end());
        m_stack.resize(m);
        return items;
    }
    uint32_t makeTuple(std::vector<uint32_t> items) {
        Value v{Kind::Tuple, 0, 0, {}, std::move(items), {}};
        return make(std::move(v));
    }

    Value& expect(uint32_t idx, Kind k, const char* what) {
        Value& v = at(idx);
        if (v.kind != k) fail(std::string(what) + " must be a " + kindName(k) + ", found a " + kindName(v.kind));
        return v;
    }
    void setItems(uint32_t dict, const std::vector<uint32_t>& kv) {
        if (kv.size() % 2) fail("SETITEMS with an odd number of items");
        Value& d = at(dict);
        if (d.kind != Kind::Dict) fail(std::string("SETITEM on a ") + kindName(d.kind) + ", expected a dict");
        d.items.insert(d.items.end(), kv.begin(), kv.end());
    }
    void appendItems(uint32_t list, const std::vector<uint32_t>& items) {
        Value& l = at(list);
        if (l.kind != Kind::List) fail(std::string("APPEND on a ") + kindName(l.kind) + ", expected a list");
        l.items.insert(l.items.end(), items.begin(), items.end());
    }

    uint32_t global(const std::string& module, const std::string& name);
    uint32_t call(uint32_t callable, uint32_t args);
    uint32_t persistentLoad(uint32_t pid);
    uint32_t rebuildTensor(const std::vector<uint32_t>& args, bool v2);
    json toJson(uint32_t idx, int depth, int64_t& budget) const;

    std::span<const std::byte> m_data;
    const std::string& m_where;
    size_t m_pos = 0, m_opStart = 0;
    std::vector<Value> m_values;
    std::vector<uint32_t> m_stack;
    std::vector<size_t> m_marks;
    std::unordered_map<uint64_t, uint32_t> m_memo;
    std::vector<StorageInfo> m_storages;
    std::unordered_map<std::string, size_t> m_storageByKey;
    std::vector<TorchTensorRecord> m_tensors;
};

uint32_t Unpickler::global(const std::string& module, const std::string& name) {
    auto callable = [&](Callable c) {
        Value v{Kind::Global, static_cast<int64_t>(c), 0, module + "." + name, {}, {}};
        return make(std::move(v));
    };
    if (module == "collections" && name == "OrderedDict") return callable(Callable::OrderedDict);
    if (module == "torch._utils") {
        if (name == "_rebuild_tensor_v2") return callable(Callable::RebuildTensorV2);
        if (name == "_rebuild_tensor") return callable(Callable::RebuildTensor);
        if (name == "_rebuild_parameter") return callable(Callable::RebuildParameter);
        if (name == "_rebuild_parameter_with_state") return callable(Callable::RebuildParameterWithState);
    }
    if (module == "torch") {
        for (const auto& s : kStorages)
            if (name == s.name) {
                const uint32_t v = callable(Callable::Storage);
                at(v).dtype = s.dtype;
                return v;
            }
        if (name == "Size") return callable(Callable::Size);
        if (name == "device") return callable(Callable::Device);
    }
    if (module == "argparse" && name == "Namespace") return callable(Callable::Namespace);
    if ((module == "builtins" || module == "__builtin__") && (name == "set" || name == "frozenset"))
        return callable(Callable::Set);
    if (module == "_codecs" && name == "encode") return callable(Callable::CodecsEncode);
    fail("disallowed GLOBAL '" + module + "." + name +
         "': only tensors, storages, dicts, lists, tuples, strings and numbers are read from a checkpoint");
}

uint32_t Unpickler::rebuildTensor(const std::vector<uint32_t>& args, bool v2) {
    if (args.size() < 4 || (!v2 && args.size() != 4))
        fail("a tensor rebuild with " + std::to_string(args.size()) + " arguments");
    const Value& storage = expect(args[0], Kind::Storage, "a tensor's storage");
    const StorageInfo& si = m_storages[static_cast<size_t>(storage.i)];
    const Value& offset = expect(args[1], Kind::Int, "a tensor's storage offset");
    const Value& size = at(args[2]);
    const Value& stride = at(args[3]);
    if (size.kind != Kind::Tuple || stride.kind != Kind::Tuple || size.items.size() != stride.items.size() ||
        size.items.size() > 64)
        fail("a tensor's size and stride must be tuples of one length (at most 64)");
    TorchTensorRecord r;
    r.dtype = si.dtype;
    r.storageKey = si.key;
    r.storageNumel = si.numel;
    if (offset.i < 0) fail("a negative storage offset");
    r.storageOffset = offset.i;
    bool empty = false;
    int64_t last = offset.i; // highest element index reached
    for (size_t k = 0; k < size.items.size(); ++k) {
        const int64_t n = expect(size.items[k], Kind::Int, "a tensor size").i;
        const int64_t st = expect(stride.items[k], Kind::Int, "a tensor stride").i;
        if (n < 0 || st < 0) fail("a negative tensor size or stride");
        r.shape.push_back(n);
        r.stride.push_back(st);
        int64_t reach = 0;
        if (n == 0)
            empty = true;
        else if (__builtin_mul_overflow(n - 1, st, &reach) || __builtin_add_overflow(last, reach, &last))
            fail("a tensor larger than any storage");
    }
    if (!empty && last >= si.numel)
        fail("a tensor reaches element " + std::to_string(last) + " of storage '" + si.key + "', which has " +
             std::to_string(si.numel) + " elements");
    if (args.size() >= 5 && at(args[4]).kind == Kind::Bool) r.requiresGrad = at(args[4]).i != 0;
    m_tensors.push_back(std::move(r));
    Value v{Kind::Tensor, static_cast<int64_t>(m_tensors.size() - 1), 0, {}, {}, {}};
    return make(std::move(v));
}

uint32_t Unpickler::call(uint32_t callable, uint32_t argsIdx) {
    const Value& c = at(callable);
    if (c.kind != Kind::Global) fail(std::string("REDUCE of a ") + kindName(c.kind) + ", which is not callable");
    const std::vector<uint32_t> args = expect(argsIdx, Kind::Tuple, "REDUCE arguments").items;
    const std::string name = c.s;
    switch (static_cast<Callable>(c.i)) {
    case Callable::OrderedDict: {
        const uint32_t d = makeKind(Kind::Dict);
        if (args.empty()) return d;
        const Value& src = at(args[0]);
        if (args.size() != 1 || (src.kind != Kind::List && src.kind != Kind::Tuple))
            fail("OrderedDict() with unexpected arguments");
        std::vector<uint32_t> kv;
        for (uint32_t pair : std::vector<uint32_t>(src.items)) {
            const Value& p = at(pair);
            if ((p.kind != Kind::Tuple && p.kind != Kind::List) || p.items.size() != 2)
                fail("OrderedDict() items must be pairs");
            kv.push_back(p.items[0]);
            kv.push_back(p.items[1]);
        }
        setItems(d, kv);
        return d;
    }
    case Callable::RebuildTensorV2:
        return rebuildTensor(args, true);
    case Callable::RebuildTensor:
        return rebuildTensor(args, false);
    case Callable::RebuildParameter:
    case Callable::RebuildParameterWithState:
        if (args.empty()) fail("a parameter rebuild without its tensor");
        expect(args[0], Kind::Tensor, "a parameter's data");
        return args[0];
    case Callable::Size: {
        if (args.size() != 1) fail("torch.Size() with unexpected arguments");
        const Value& t = at(args[0]);
        if (t.kind != Kind::Tuple && t.kind != Kind::List) fail("torch.Size() of a " + std::string(kindName(t.kind)));
        return makeTuple(std::vector<uint32_t>(t.items));
    }
    case Callable::Set: {
        const uint32_t l = makeKind(Kind::List);
        if (args.empty()) return l;
        const Value& src = at(args[0]);
        if (src.kind != Kind::List && src.kind != Kind::Tuple) fail("set() of a " + std::string(kindName(src.kind)));
        at(l).items = src.items;
        return l;
    }
    case Callable::CodecsEncode: {
        if (args.empty() || at(args[0]).kind != Kind::Str) fail("_codecs.encode() needs a string");
        return makeKind(Kind::Bytes, at(args[0]).s);
    }
    case Callable::Namespace:
    case Callable::Device:
        return makeKind(Kind::Object, name);
    case Callable::Storage:
        break;
    }
    fail("REDUCE of '" + name + "' is not allowed");
}

uint32_t Unpickler::persistentLoad(uint32_t pidIdx) {
    const Value& pid = at(pidIdx);
    if (pid.kind != Kind::Tuple || pid.items.size() != 5)
        fail("a persistent id that is not torch's ('storage', type, key, location, numel) record");
    const Value& tag = at(pid.items[0]);
    if (tag.kind != Kind::Str || tag.s != "storage") fail("a persistent id that is not a storage record");
    const Value& type = at(pid.items[1]);
    if (type.kind != Kind::Global || static_cast<Callable>(type.i) != Callable::Storage)
        fail("a storage record without a storage type");
    const std::string key = expect(pid.items[2], Kind::Str, "a storage key").s;
    expect(pid.items[3], Kind::Str, "a storage location");
    const int64_t numel = expect(pid.items[4], Kind::Int, "a storage size").i;
    if (numel < 0) fail("a negative storage size");
    if (key.empty() || key.size() > 64 || key.find('/') != std::string::npos || key.find("..") != std::string::npos)
        fail("a storage key that is not a plain record name");
    size_t index;
    if (const auto it = m_storageByKey.find(key); it != m_storageByKey.end()) {
        index = it->second;
        if (m_storages[index].dtype != type.dtype || m_storages[index].numel != numel)
            fail("storage '" + key + "' is declared twice with different types or sizes");
    } else {
        index = m_storages.size();
        m_storages.push_back({key, type.dtype, numel});
        m_storageByKey.emplace(key, index);
    }
    Value v{Kind::Storage, static_cast<int64_t>(index), 0, {}, {}, {}};
    return make(std::move(v));
}

uint32_t Unpickler::run() {
    while (true) {
        m_opStart = m_pos;
        if (m_pos >= m_data.size()) fail("the pickle ends without a STOP opcode (truncated)");
        const auto op = std::to_integer<uint8_t>(m_data[m_pos++]);
        switch (op) {
        case 0x80: // PROTO
            if (std::to_integer<uint8_t>(*take(1)) > 5) fail("an unknown pickle protocol");
            break;
        case 0x95:
            take(8);
            break; // FRAME: a framing hint only
        case '.':  // STOP
            if (m_stack.empty()) fail("STOP with an empty stack");
            return m_stack.back();
        case '(':
            m_marks.push_back(m_stack.size());
            break;
        case '0':
            pop();
            break;
        case '1':
            popMark();
            break;
        case '2':
            push(top());
            break;
        case 'N':
            push(makeKind(Kind::None));
            break;
        case 0x88:
            push(make({Kind::Bool, 1, 0, {}, {}, {}}));
            break;
        case 0x89:
            push(make({Kind::Bool, 0, 0, {}, {}, {}}));
            break;
        case 'J':
            push(makeInt(static_cast<int32_t>(static_cast<uint32_t>(le(4)))));
            break;
        case 'K':
            push(makeInt(static_cast<int64_t>(le(1))));
            break;
        case 'M':
            push(makeInt(static_cast<int64_t>(le(2))));
            break;
        case 0x8a:   // LONG1
        case 0x8b: { // LONG4
            const uint64_t n = op == 0x8a ? le(1) : le(4);
            const std::byte* p = take(n);
            if (n > 8) {
                push(makeKind(Kind::Object, "int (more than 64 bits)"));
                break;
            }
            uint64_t v = 0;
            for (uint64_t k = n; k-- > 0;)
                v = (v << 8) | std::to_integer<uint64_t>(p[k]);
            if (n > 0 && n < 8 && (std::to_integer<uint8_t>(p[n - 1]) & 0x80)) v |= ~uint64_t{0} << (8 * n);
            push(makeInt(static_cast<int64_t>(v)));
            break;
        }
        case 'G': { // BINFLOAT, big-endian
            const std::byte* p = take(8);
            uint64_t bits = 0;
            for (int k = 0; k < 8; ++k)
                bits = (bits << 8) | std::to_integer<uint64_t>(p[k]);
            push(make({Kind::Float, 0, std::bit_cast<double>(bits), {}, {}, {}}));
            break;
        }
        case 'X':
            push(makeKind(Kind::Str, bytes(le(4))));
            break;
        case 0x8c:
            push(makeKind(Kind::Str, bytes(le(1))));
            break;
        case 0x8d:
            push(makeKind(Kind::Str, bytes(le(8))));
            break;
        case 'U':
            push(makeKind(Kind::Str, bytes(le(1))));
            break;
        case 'T':
            push(makeKind(Kind::Str, bytes(le(4))));
            break;
        case 'C':
            push(makeKind(Kind::Bytes, bytes(le(1))));
            break;
        case 'B':
            push(makeKind(Kind::Bytes, bytes(le(4))));
            break;
        case 0x8e:
            push(makeKind(Kind::Bytes, bytes(le(8))));
            break;
        case ')':
            push(makeTuple({}));
            break;
        case 't':
            push(makeTuple(popMark()));
            break;
        case 0x85: {
            const uint32_t a = pop();
            push(makeTuple({a}));
            break;
        }
        case 0x86: {
            const uint32_t b = pop(), a = pop();
            push(makeTuple({a, b}));
            break;
        }
        case 0x87: {
            const uint32_t c = pop(), b = pop(), a = pop();
            push(makeTuple({a, b, c}));
            break;
        }
        case ']':
        case 0x8f:
            push(makeKind(Kind::List));
            break; // EMPTY_LIST, EMPTY_SET
        case 'l':
        case 0x91: { // LIST, FROZENSET
            std::vector<uint32_t> items = popMark();
            const uint32_t l = makeKind(Kind::List);
            at(l).items = std::move(items);
            push(l);
            break;
        }
        case 'a': {
            const uint32_t v = pop();
            appendItems(top(), {v});
            break;
        }
        case 'e':
        case 0x90: { // APPENDS, ADDITEMS
            const std::vector<uint32_t> items = popMark();
            appendItems(top(), items);
            break;
        }
        case '}':
            push(makeKind(Kind::Dict));
            break;
        case 'd': {
            const std::vector<uint32_t> kv = popMark();
            const uint32_t d = makeKind(Kind::Dict);
            setItems(d, kv);
            push(d);
            break;
        }
        case 's': {
            const uint32_t v = pop(), k = pop();
            setItems(top(), {k, v});
            break;
        }
        case 'u': {
            const std::vector<uint32_t> kv = popMark();
            setItems(top(), kv);
            break;
        }
        case 'q':
            m_memo[le(1)] = top();
            break;
        case 'r':
            m_memo[le(4)] = top();
            break;
        case 0x94:
            m_memo[m_memo.size()] = top();
            break; // MEMOIZE
        case 'h':
        case 'j': {
            const uint64_t key = op == 'h' ? le(1) : le(4);
            const auto it = m_memo.find(key);
            if (it == m_memo.end()) fail("BINGET of memo slot " + std::to_string(key) + ", which was never set");
            push(it->second);
            break;
        }
        case 'c': {
            const std::string module = line();
            const std::string name = line();
            push(global(module, name));
            break;
        }
        case 0x93: { // STACK_GLOBAL
            const uint32_t n = pop(), m = pop();
            const std::string module = expect(m, Kind::Str, "a STACK_GLOBAL module").s;
            const std::string name = expect(n, Kind::Str, "a STACK_GLOBAL name").s;
            push(global(module, name));
            break;
        }
        case 'R': {
            const uint32_t args = pop(), callable = pop();
            push(call(callable, args));
            break;
        }
        case 0x81:                 // NEWOBJ
        case 0x92: {               // NEWOBJ_EX
            if (op == 0x92) pop(); // kwargs
            const uint32_t args = pop(), cls = pop();
            const Value& c = at(cls);
            if (c.kind != Kind::Global || (static_cast<Callable>(c.i) != Callable::Namespace &&
                                           static_cast<Callable>(c.i) != Callable::OrderedDict))
                fail(std::string("NEWOBJ of a ") + (c.kind == Kind::Global ? "'" + c.s + "'" : kindName(c.kind)) +
                     ", which is not allowed");
            expect(args, Kind::Tuple, "NEWOBJ arguments");
            push(static_cast<Callable>(c.i) == Callable::OrderedDict ? makeKind(Kind::Dict)
                                                                     : makeKind(Kind::Object, c.s));
            break;
        }
        case 'b': { // BUILD
            const uint32_t state = pop();
            Value& obj = at(top());
            if (obj.kind == Kind::Object)
                obj.items = {state};
            else if (obj.kind != Kind::Dict && obj.kind != Kind::Tensor)
                fail(std::string("BUILD on a ") + kindName(obj.kind));
            break;
        }
        case 'Q':
            push(persistentLoad(pop()));
            break; // BINPERSID
        default: {
            char buf[8];
            std::snprintf(buf, sizeof buf, "0x%02x", op);
            fail(std::string("unsupported pickle opcode ") + buf +
                 (op >= 0x20 && op < 0x7f ? std::string(" ('") + static_cast<char>(op) + "')" : std::string()) +
                 ": not a torch.save state dict");
        }
        }
    }
}

json Unpickler::toJson(uint32_t idx, int depth, int64_t& budget) const {
    const Value& v = m_values[idx];
    if (--budget < 0 || depth > 8) return "...";
    switch (v.kind) {
    case Kind::None:
        return nullptr;
    case Kind::Bool:
        return v.i != 0;
    case Kind::Int:
        return v.i;
    case Kind::Float:
        return v.f;
    case Kind::Str:
        budget -= static_cast<int64_t>(std::min(v.s.size(), kMaxExtraString) / 16);
        return boundedString(v.s);
    case Kind::Bytes:
        return "<bytes>";
    case Kind::Global:
        return "<" + v.s + ">";
    case Kind::Storage:
        return "<storage>";
    case Kind::Tensor: {
        const auto& t = m_tensors[static_cast<size_t>(v.i)];
        std::string s = std::string("<tensor ") + shortName(t.dtype) + " [";
        for (size_t k = 0; k < t.shape.size(); ++k)
            s += (k ? ", " : "") + std::to_string(t.shape[k]);
        return s + "]>";
    }
    case Kind::Object:
        if (!v.items.empty() && m_values[v.items[0]].kind == Kind::Dict) return toJson(v.items[0], depth + 1, budget);
        return "<" + v.s + ">";
    case Kind::Tuple:
    case Kind::List: {
        json a = json::array();
        for (uint32_t item : v.items) {
            if (budget < 0) break;
            a.push_back(toJson(item, depth + 1, budget));
        }
        return a;
    }
    case Kind::Dict: {
        json o = json::object();
        for (size_t k = 0; k + 1 < v.items.size() && budget >= 0; k += 2) {
            const Value& key = m_values[v.items[k]];
            std::string name = key.kind == Kind::Str   ? boundedString(key.s)
                               : key.kind == Kind::Int ? std::to_string(key.i)
                                                       : std::string("<") + kindName(key.kind) + ">";
            o[name] = toJson(v.items[k + 1], depth + 1, budget);
        }
        return o;
    }
    }
    return nullptr;
}

TorchStateDict Unpickler::stateDict(uint32_t topIdx) {
    TorchStateDict out;
    const Value& top = m_values[topIdx];
    if (top.kind != Kind::Dict)
        throw CheckpointError(m_where + ": the pickle holds a " + kindName(top.kind) +
                              ", expected a state dict (a dict of tensors) or a trainer checkpoint with "
                              "\"model_state_dict\"");
    auto strKey = [&](uint32_t k) -> const std::string* {
        const Value& v = m_values[k];
        return v.kind == Kind::Str ? &v.s : nullptr;
    };
    uint32_t sdIdx = topIdx;
    std::string nested;
    for (const char* name : {"model_state_dict", "state_dict", "model"}) {
        for (size_t k = 0; k + 1 < top.items.size() && nested.empty(); k += 2) {
            const std::string* key = strKey(top.items[k]);
            if (key && *key == name && m_values[top.items[k + 1]].kind == Kind::Dict) {
                sdIdx = top.items[k + 1];
                nested = name;
            }
        }
    }
    int64_t budget = 20000;
    if (!nested.empty()) {
        out.layout = "trainer checkpoint (\"" + nested + "\")";
        json extras = json::object();
        std::string ignored;
        for (size_t k = 0; k + 1 < top.items.size(); k += 2) {
            const std::string* key = strKey(top.items[k]);
            if (key && *key == nested) continue;
            if (budget < 0) { // the provenance keeps a bounded view; the notes say what was left out
                ignored += ", ...";
                break;
            }
            const std::string name = key ? boundedString(*key) : "<non-string key>";
            budget -= 1 + static_cast<int64_t>(name.size() / 16);
            extras[name] = toJson(top.items[k + 1], 0, budget);
            ignored += (ignored.empty() ? "" : ", ") + name;
        }
        if (!ignored.empty())
            out.notes.push_back("checkpoint entries besides \"" + nested + "\" were ignored: " + ignored);
        out.extrasJson = extras.dump(-1, ' ', false, json::error_handler_t::replace);
    } else {
        out.layout = "state dict";
    }
    const Value& sd = m_values[sdIdx];
    std::string nonTensor;
    bool prefixed = false;
    for (size_t k = 0; k + 1 < sd.items.size(); k += 2) {
        const std::string* key = strKey(sd.items[k]);
        const Value& v = m_values[sd.items[k + 1]];
        if (!key || v.kind != Kind::Tensor) {
            const std::string name = key ? boundedString(*key) : "<non-string key>";
            nonTensor += (nonTensor.empty() ? "" : ", ") + name + " (" + kindName(v.kind) + ")";
            continue;
        }
        TorchTensorRecord r = m_tensors[static_cast<size_t>(v.i)];
        r.originalKey = *key;
        r.key = *key;
        for (bool again = true; again;) {
            again = false;
            for (const char* prefix : {"module.", "_orig_mod."}) {
                if (r.key.rfind(prefix, 0) == 0) {
                    r.key.erase(0, std::strlen(prefix));
                    prefixed = again = true;
                }
            }
        }
        for (const auto& other : out.tensors)
            if (other.key == r.key)
                throw CheckpointError(m_where + ": keys \"" + other.originalKey + "\" and \"" + r.originalKey +
                                      "\" name the same tensor once the \"module.\" prefix is removed");
        out.tensors.push_back(std::move(r));
    }
    if (out.tensors.empty()) {
        std::string keys;
        for (size_t k = 0; k + 1 < sd.items.size() && keys.size() < 200; k += 2) {
            const std::string* key = strKey(sd.items[k]);
            keys += (keys.empty() ? "" : ", ") + (key ? *key : std::string("<non-string key>"));
        }
        throw CheckpointError(m_where + ": the pickle holds a dict without tensors (keys: " +
                              (keys.empty() ? std::string("none") : keys) +
                              "), expected a state dict or a checkpoint with \"model_state_dict\"");
    }
    if (prefixed) out.notes.push_back("key prefixes \"module.\" / \"_orig_mod.\" were removed");
    if (!nonTensor.empty()) out.notes.push_back("non-tensor entries of the state dict were ignored: " + nonTensor);
    return out;
}

} // namespace

TorchStateDict TorchPickleReader::readStateDict(std::span<const std::byte> pickle, const std::string& where) {
    Unpickler u(pickle, where);
    return u.stateDict(u.run());
}

} // namespace brillm
