// SPDX-License-Identifier: GPL-3.0-or-later
#include "io/detail/torch_pickle_writer.h"

#include "brillm/error.h"

namespace brillm {

namespace {

const char* storageClass(StorageDtype dtype) {
    switch (dtype) {
    case StorageDtype::F64:
        return "DoubleStorage";
    case StorageDtype::F32:
        return "FloatStorage";
    case StorageDtype::F16:
        return "HalfStorage";
    case StorageDtype::BF16:
        return "BFloat16Storage";
    case StorageDtype::I64:
        return "LongStorage";
    case StorageDtype::I32:
        return "IntStorage";
    case StorageDtype::I16:
        return "ShortStorage";
    case StorageDtype::I8:
        return "CharStorage";
    case StorageDtype::U8:
        return "ByteStorage";
    case StorageDtype::Bool:
        return "BoolStorage";
    }
    throw CheckpointError("no torch storage class for this dtype");
}

class Pickle {
public:
    void op(char c) { m_out.push_back(c); }
    void le(uint64_t v, int n) {
        for (int i = 0; i < n; ++i)
            m_out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
    }
    void str(const std::string& s) {
        op('X');
        le(s.size(), 4);
        m_out += s;
    }
    void global(const std::string& module, const std::string& name) {
        op('c');
        m_out += module + '\n' + name + '\n';
    }
    void integer(int64_t v) {
        if (v >= 0 && v < 256) {
            op('K');
            le(static_cast<uint64_t>(v), 1);
        } else if (v >= 0 && v < 65536) {
            op('M');
            le(static_cast<uint64_t>(v), 2);
        } else if (v >= INT32_MIN && v <= INT32_MAX) {
            op('J');
            le(static_cast<uint64_t>(static_cast<uint32_t>(static_cast<int32_t>(v))), 4);
        } else { // LONG1: minimal little-endian two's complement
            int n = 1;
            while (n < 8 && !(v >= -(int64_t{1} << (8 * n - 1)) && v < (int64_t{1} << (8 * n - 1))))
                ++n;
            op('\x8a');
            le(static_cast<uint64_t>(n), 1);
            le(static_cast<uint64_t>(v), n);
        }
    }
    void tuple(const std::vector<int64_t>& items) {
        if (items.empty()) {
            op(')');
            return;
        }
        if (items.size() > 3) op('(');
        for (int64_t v : items)
            integer(v);
        op(items.size() == 1 ? '\x85' : items.size() == 2 ? '\x86' : items.size() == 3 ? '\x87' : 't');
    }
    std::string take() { return std::move(m_out); }

private:
    std::string m_out;
};

} // namespace

std::string TorchPickleWriter::stateDict(const std::vector<PickleTensor>& tensors) {
    Pickle p;
    p.op('\x80');
    p.le(2, 1);
    p.global("collections", "OrderedDict");
    p.op(')');
    p.op('R');
    if (!tensors.empty()) p.op('(');
    for (const auto& t : tensors) {
        int64_t numel = 1;
        std::vector<int64_t> stride(t.shape.size());
        for (size_t k = t.shape.size(); k-- > 0;) {
            if (t.shape[k] < 0) throw CheckpointError("tensor \"" + t.key + "\" has a negative dimension");
            stride[k] = numel;
            numel *= t.shape[k];
        }
        p.str(t.key);
        p.global("torch._utils", "_rebuild_tensor_v2");
        p.op('(');
        p.op('('); // the persistent id: ('storage', class, key, location, numel)
        p.str("storage");
        p.global("torch", storageClass(t.dtype));
        p.str(t.storageKey);
        p.str("cpu");
        p.integer(numel);
        p.op('t');
        p.op('Q');
        p.integer(0); // storage offset
        p.tuple(t.shape);
        p.tuple(stride);
        p.op('\x89'); // requires_grad = False
        p.global("collections", "OrderedDict");
        p.op(')');
        p.op('R'); // backward hooks
        p.op('t');
        p.op('R');
    }
    if (!tensors.empty()) p.op('u');
    p.op('.');
    return p.take();
}

} // namespace brillm
