// SPDX-License-Identifier: GPL-3.0-or-later
// The torch.save reader and writer: the committed fixtures (made by Python's torch.save) read
// number by number, the restricted unpickler refusing anything but data, damaged zips, and
// export -> read round trips (and through Python's torch.load when it is installed).
#include "test_checkpoint_util.h"

#include "brillm/error.h"
#include "brillm/io/checkpoint_export.h"
#include "brillm/io/checkpoint_import.h"
#include "brillm/io/torch_checkpoint.h"
#include "brillm/io/torch_pickle_reader.h"
#include "io/detail/torch_pickle_writer.h"
#include "io/detail/torch_zip_writer.h"

#include <ATen/ATen.h>

#include <cstdlib>
#include <cstring>
#include <random>

namespace brillm {
namespace {

using nlohmann::json;
using test::expectError;
using test::fixture;
using test::ScratchDir;
using test::values;

bool bitEqual(const at::Tensor& a, const at::Tensor& b) {
    if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
    const at::Tensor ca = a.contiguous(), cb = b.contiguous();
    return std::memcmp(ca.data_ptr(), cb.data_ptr(), static_cast<size_t>(ca.nbytes())) == 0;
}

void expectValues(const TorchCheckpoint& c, const json& expected, const std::vector<std::string>& keys) {
    for (const auto& key : keys) {
        const TorchTensorRecord* r = c.find(key);
        ASSERT_NE(r, nullptr) << key;
        EXPECT_EQ(values(tensorFromCheckpoint(c, *r)), expected[key].get<std::vector<double>>()) << key;
    }
}

const std::vector<std::string> kParams = {"weights", "biases", "node_bias", "positions"};

// Fixtures written by Python ----------------------------------------------------------------

TEST(TorchCheckpoint, PlainStateDictNumberByNumber) {
    const json e = test::expectedValues();
    const TorchCheckpoint c = TorchCheckpoint::open(fixture("plain.pt"));
    EXPECT_EQ(c.stateDict().layout, "state dict");
    EXPECT_EQ(c.archiveName(), "plain");
    ASSERT_EQ(c.tensors().size(), 4u);
    const int64_t n = e["num_slots"];
    EXPECT_EQ(c.find("weights")->shape, (std::vector<int64_t>{n, 4, 4}));
    EXPECT_EQ(c.find("positions")->shape, (std::vector<int64_t>{1, 8, 1}));
    EXPECT_EQ(c.find("weights")->dtype, StorageDtype::F32);
    expectValues(c, e["plain"], kParams);
    // Zero-copy: the tensor lies inside the mapped file.
    const at::Tensor w = tensorFromCheckpoint(c, *c.find("weights"));
    EXPECT_TRUE(c.file()->contains(w.data_ptr()));
}

TEST(TorchCheckpoint, TrainerCheckpointWithPrefixesViewsAndExtras) {
    const json e = test::expectedValues();
    const TorchCheckpoint c = TorchCheckpoint::open(fixture("trainer.pt"));
    EXPECT_EQ(c.stateDict().layout, "trainer checkpoint (\"model_state_dict\")");
    expectValues(c, e["plain"], kParams);
    const TorchTensorRecord* w = c.find("weights");
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(w->originalKey, "module.weights");
    EXPECT_FALSE(TorchCheckpoint::isContiguous(*w));
    EXPECT_EQ(c.find("node_bias")->storageOffset, 3);
    EXPECT_NE(c.find("cond_proj.weight"), nullptr);
    const json extras = json::parse(c.stateDict().extrasJson);
    EXPECT_EQ(extras["args"], e["trainer_args"]);
    EXPECT_EQ(extras["epoch"], 3);
    EXPECT_EQ(extras["loss"], 1.25);
    EXPECT_TRUE(extras["optimizer_state_dict"].contains("param_groups"));
    std::string notes;
    for (const auto& n : c.stateDict().notes)
        notes += n + "\n";
    EXPECT_NE(notes.find("module."), std::string::npos) << notes;
    EXPECT_NE(notes.find("optimizer_state_dict"), std::string::npos) << notes;
}

TEST(TorchCheckpoint, Float16StateDict) {
    const json e = test::expectedValues();
    const TorchCheckpoint c = TorchCheckpoint::open(fixture("half.pt"));
    for (const auto& key : kParams)
        EXPECT_EQ(c.find(key)->dtype, StorageDtype::F16) << key;
    expectValues(c, e["half"], kParams);
    EXPECT_EQ(tensorFromCheckpoint(c, *c.find("weights")).scalar_type(), at::kHalf);
}

TEST(TorchCheckpoint, FixturesThatAreNotStateDicts) {
    expectError<CheckpointError>([] { TorchCheckpoint::open(fixture("bad_list.pt")); },
                                 {"bad_list.pt", "holds a list", "expected a state dict"});
    expectError<CheckpointError>([] { TorchCheckpoint::open(fixture("bad_global.pt")); },
                                 {"bad_global.pt", "disallowed GLOBAL 'datetime.date'"});
    expectError<CheckpointError>([] { TorchCheckpoint::open(fixture("bad_no_tensors.pt")); },
                                 {"bad_no_tensors.pt", "without tensors", "epoch"});
}

// The restricted unpickler on hand-made pickles ------------------------------------------

class PickleBuilder {
public:
    PickleBuilder& raw(const std::string& s) {
        m_s += s;
        return *this;
    }
    PickleBuilder& op(char c) {
        m_s += c;
        return *this;
    }
    PickleBuilder& str(const std::string& s) {
        m_s += 'X';
        for (int i = 0; i < 4; ++i)
            m_s += static_cast<char>((s.size() >> (8 * i)) & 0xFF);
        m_s += s;
        return *this;
    }
    PickleBuilder& global(const std::string& module, const std::string& name) {
        m_s += 'c' + module + '\n' + name + '\n';
        return *this;
    }
    PickleBuilder& put(int slot) {
        m_s += 'q';
        m_s += static_cast<char>(slot);
        return *this;
    }
    PickleBuilder& get(int slot) {
        m_s += 'h';
        m_s += static_cast<char>(slot);
        return *this;
    }
    PickleBuilder& small(int v) {
        m_s += 'K';
        m_s += static_cast<char>(v);
        return *this;
    }
    // A float tensor rebuild over storage `key` of `numel` elements with shape (n,), stride 1.
    PickleBuilder& tensor(const std::string& key, int numel, int n, int offset = 0) {
        global("torch._utils", "_rebuild_tensor_v2").op('(').op('(').str("storage").global("torch", "FloatStorage");
        str(key).str("cpu").small(numel).op('t').op('Q').small(offset).small(n).op('\x85').small(1).op('\x85');
        return op('\x89').global("collections", "OrderedDict").op(')').op('R').op('t').op('R');
    }
    std::string proto() const { return std::string("\x80\x02", 2) + m_s; }

private:
    std::string m_s;
};

TorchStateDict readPickle(const std::string& bytes) {
    return TorchPickleReader::readStateDict({reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()},
                                            "test.pkl");
}

void expectPickleError(const std::string& bytes, std::initializer_list<std::string> fragments) {
    expectError<CheckpointError>([&] { readPickle(bytes); }, fragments);
}

TEST(TorchPickleReader, ReadsAHandMadeStateDict) {
    const std::string p =
        PickleBuilder().op('}').op('(').str("module.a").tensor("0", 6, 4, 2).str("b").small(7).op('u').op('.').proto();
    const TorchStateDict sd = readPickle(p);
    ASSERT_EQ(sd.tensors.size(), 1u);
    EXPECT_EQ(sd.tensors[0].key, "a");
    EXPECT_EQ(sd.tensors[0].storageOffset, 2);
    EXPECT_EQ(sd.tensors[0].shape, (std::vector<int64_t>{4}));
    EXPECT_EQ(sd.notes.size(), 2u); // prefix removed, non-tensor "b" ignored
}

TEST(TorchPickleReader, RefusesCodeAndMalformedPrograms) {
    expectPickleError(PickleBuilder().global("os", "system").str("ls").op('\x85').op('R').op('.').proto(),
                      {"test.pkl", "disallowed GLOBAL 'os.system'", "at byte 2"});
    expectPickleError(PickleBuilder().global("builtins", "eval").op('.').proto(),
                      {"disallowed GLOBAL 'builtins.eval'"});
    expectPickleError(PickleBuilder().str("builtins").str("exec").raw("\x93").op('.').proto(),
                      {"disallowed GLOBAL 'builtins.exec'"});
    expectPickleError(PickleBuilder().op(']').op('.').proto(), {"holds a list"});
    expectPickleError(PickleBuilder().op('N').op('.').proto(), {"holds a None"});
    expectPickleError(PickleBuilder().op('}').op('(').str("ab").proto(), {"truncated"});
    expectPickleError(PickleBuilder().op('}').proto(), {"without a STOP"});
    expectPickleError(std::string("\x80\x02}X\xff\xff\xff\x7f", 8), {"truncated"});
    expectPickleError(PickleBuilder().op('}').raw("\xff").op('.').proto(), {"unsupported pickle opcode 0xff"});
    expectPickleError(PickleBuilder().op('}').raw("i").op('.').proto(), {"unsupported pickle opcode 0x69 ('i')"});
    expectPickleError(PickleBuilder().op('s').op('.').proto(), {"stack underflow"});
    expectPickleError(PickleBuilder().op('(').op('}').op('(').op('0').op('0').op('.').proto(), {"stack underflow"});
    expectPickleError(PickleBuilder().get(5).op('.').proto(), {"memo slot 5"});
    expectPickleError(PickleBuilder().op('}').op(')').op('R').op('.').proto(), {"not callable"});
    expectPickleError(PickleBuilder().op('}').small(1).op('a').op('.').proto(), {"APPEND on a dict"});
    expectPickleError(PickleBuilder().op('}').op('(').small(1).op('u').op('.').proto(), {"odd number"});
    expectPickleError(PickleBuilder().op('}').op('u').op('.').proto(), {"MARK"});
    expectPickleError(PickleBuilder().op('}').op('(').str("w").tensor("0", 4, 10).op('u').op('.').proto(),
                      {"reaches element 9", "4 elements"});
    expectPickleError(PickleBuilder().op('}').op('(').str("w").tensor("../x", 4, 2).op('u').op('.').proto(),
                      {"plain record name"});
    expectPickleError(PickleBuilder()
                          .op('}')
                          .op('(')
                          .str("weights")
                          .tensor("0", 4, 2)
                          .str("module.weights")
                          .tensor("1", 4, 2)
                          .op('u')
                          .op('.')
                          .proto(),
                      {"name the same tensor"});
    expectPickleError(PickleBuilder().op('}').op('(').str("w").small(3).op('u').op('.').proto(),
                      {"without tensors", "w"});
}

TEST(TorchPickleReader, SelfReferencesAndSharingStayBounded) {
    // A list that contains itself, and a checkpoint whose extras reference the top-level dict.
    expectPickleError(PickleBuilder().op(']').put(0).get(0).op('a').op('.').proto(), {"holds a list"});
    PickleBuilder b;
    b.op('}').put(0).op('(').str("model_state_dict").op('}').op('(').str("w").tensor("0", 4, 4).op('u');
    b.str("self").get(0);
    // "wide": a list holding itself 200 times - exponential if rendered naively.
    b.str("wide").op(']').put(1).op('(');
    for (int i = 0; i < 200; ++i)
        b.get(1);
    b.op('e').op('u').op('.');
    const TorchStateDict sd = readPickle(b.proto());
    ASSERT_EQ(sd.tensors.size(), 1u);
    const json extras = json::parse(sd.extrasJson);
    EXPECT_TRUE(extras.contains("self"));
    EXPECT_LT(sd.extrasJson.size(), 1u << 20);
}

// issue 18: a 50 MB string in a checkpoint's extras was copied whole into the provenance.
TEST(TorchPickleReader, ExtrasStringsAreCutToTheDocumentedBound) {
    PickleBuilder b;
    b.op('}').op('(').str("model_state_dict").op('}').op('(').str("w").tensor("0", 4, 4).op('u');
    b.str("note").str(std::string(5'000'000, 'x'));
    b.str(std::string(100'000, 'k')).small(1); // a huge key too
    b.op('u').op('.');
    const TorchStateDict sd = readPickle(b.proto());
    EXPECT_LT(sd.extrasJson.size(), 20'000u);
    const json extras = json::parse(sd.extrasJson);
    const auto note = extras.at("note").get<std::string>();
    EXPECT_EQ(note.rfind(std::string(4096, 'x'), 0), 0u);
    EXPECT_NE(note.find("(5000000 bytes, cut)"), std::string::npos) << note.substr(4096);
}

// The values NumbersAndAllowedObjects reads back: LONG1 negative, BININT negative, a big LONG1,
// BINFLOAT, an argparse.Namespace via NEWOBJ + BUILD, and a torch.Size.
void appendExtras(PickleBuilder& b) {
    b.str("neg").raw(std::string("\x8a\x02\x00\xff", 4));                          // -256
    b.str("int").raw(std::string("J\xfe\xff\xff\xff", 5));                         // -2
    b.str("big").raw(std::string("\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x01", 10)); // 2^56
    b.str("pi").raw(std::string("G\x40\x09\x21\xfb\x54\x44\x2d\x18", 9));
    b.str("args")
        .global("argparse", "Namespace")
        .op(')')
        .raw("\x81")
        .op('}')
        .str("lr")
        .raw(std::string("G\x3f\xa9\x99\x99\x99\x99\x99\x9a", 9))
        .op('s')
        .op('b');
    b.str("size").global("torch", "Size").small(3).small(4).op('\x86').op('\x85').op('R');
}

TEST(TorchPickleReader, NumbersAndAllowedObjects) {
    // LONG1 negative, BININT negative, BINFLOAT, Namespace via NEWOBJ + BUILD, torch.Size.
    PickleBuilder b;
    b.op('}').op('(').str("w").tensor("0", 4, 4);
    appendExtras(b);
    b.op('u').op('.');
    // Top-level state dict with extras is a plain "state dict": extras are notes only.
    const TorchStateDict sd = readPickle(b.proto());
    ASSERT_EQ(sd.tensors.size(), 1u);
    // The same values inside a trainer checkpoint are reported as extras.
    PickleBuilder t;
    t.op('}').op('(').str("model_state_dict").op('}').op('(').str("w").tensor("0", 4, 4).op('u');
    appendExtras(t);
    t.op('u').op('.');
    const json extras = json::parse(readPickle(t.proto()).extrasJson);
    EXPECT_EQ(extras["neg"], -256);
    EXPECT_EQ(extras["int"], -2);
    EXPECT_EQ(extras["big"], int64_t{1} << 56);
    EXPECT_DOUBLE_EQ(extras["pi"].get<double>(), 3.141592653589793);
    EXPECT_DOUBLE_EQ(extras["args"]["lr"].get<double>(), 0.05);
    EXPECT_EQ(extras["size"], json({3, 4}));
}

// The zip container ----------------------------------------------------------------------

// Offset of the central directory entry whose name ends with `suffix`.
size_t centralEntry(const std::vector<std::byte>& z, const std::string& suffix) {
    for (size_t p = 0; p + 46 < z.size(); ++p) {
        if (z[p] != std::byte{'P'} || z[p + 1] != std::byte{'K'} || z[p + 2] != std::byte{1} ||
            z[p + 3] != std::byte{2})
            continue;
        const size_t n = std::to_integer<size_t>(z[p + 28]) | std::to_integer<size_t>(z[p + 29]) << 8;
        const std::string name(reinterpret_cast<const char*>(z.data()) + p + 46, n);
        if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
            return p;
    }
    return 0;
}

TorchCheckpoint openBytes(const std::vector<std::byte>& bytes, const std::string& name = "mem.pt") {
    return TorchCheckpoint::fromMapping(MappedFile::fromBytes(bytes, name));
}

TEST(TorchZip, DamagedContainers) {
    const auto good = test::readBytes(fixture("plain.pt"));
    ASSERT_NO_THROW(openBytes(good));
    // Every truncation is a CheckpointError, never a crash.
    for (size_t n = 0; n < good.size(); ++n)
        EXPECT_THROW(openBytes({good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n)}), CheckpointError) << n;

    std::vector<std::byte> hello;
    for (char c : std::string("hello world, not a zip"))
        hello.push_back(static_cast<std::byte>(c));
    expectError<CheckpointError>([&] { openBytes(hello, "hello.pt"); }, {"hello.pt", "not a zip archive"});
    auto legacy = hello;
    legacy[0] = std::byte{0x80};
    expectError<CheckpointError>([&] { openBytes(legacy); }, {"legacy torch.save"});

    auto compressed = good;
    const size_t e = centralEntry(good, "/data/0");
    ASSERT_NE(e, 0u);
    compressed[e + 10] = std::byte{8};
    expectError<CheckpointError>([&] { openBytes(compressed, "deflated.pt"); },
                                 {"deflated.pt", "compressed (zip method 8)"});

    auto renamed = good;
    renamed[centralEntry(good, "/data.pkl") + 46 + 7] = std::byte{'X'}; // "plain/data.pkl" -> "plain/dXta.pkl"
    expectError<CheckpointError>([&] { openBytes(renamed); }, {"without a \"<archive>/data.pkl\""});

    auto noStorage = good;
    noStorage[centralEntry(good, "/data/1") + 46 + std::string("plain/data/").size()] = std::byte{'9'};
    expectError<CheckpointError>([&] { openBytes(noStorage); }, {"needs storage record", "plain/data/1"});

    // A flipped data byte: opening works (nothing read), the CRC check finds it.
    auto flipped = good;
    const TorchCheckpoint c = openBytes(good);
    const auto storage = c.storageBytes(*c.find("weights"));
    flipped[static_cast<size_t>(storage.data() - c.file()->bytes().data()) + 5] ^= std::byte{1};
    const TorchCheckpoint d = openBytes(flipped, "flipped.pt");
    expectError<CheckpointError>([&] { d.storageBytes(*d.find("weights"), true); }, {"flipped.pt", "CRC-32"});
}

TEST(TorchZip, RandomDamageNeverCrashes) {
    const auto good = test::readBytes(fixture("trainer.pt"));
    std::mt19937_64 rng(99);
    int rejected = 0;
    for (int i = 0; i < 1500; ++i) {
        auto bytes = good;
        for (int k = 0; k < 1 + static_cast<int>(rng() % 3); ++k)
            bytes[rng() % bytes.size()] = static_cast<std::byte>(rng());
        try {
            const TorchCheckpoint c = openBytes(bytes);
            for (const auto& r : c.tensors())
                (void)tensorFromCheckpoint(c, r).sum();
        } catch (const CheckpointError&) {
            ++rejected;
        }
    }
    EXPECT_GT(rejected, 0);
}

TEST(TorchZip, BigEndianArchivesAreRefused) {
    ScratchDir dir;
    const std::string path = dir.file("big.pt");
    {
        CheckpointWriter out(path);
        TorchZipWriter zip(out);
        zip.addEntry("archive/data.pkl", TorchPickleWriter::stateDict({{"w", StorageDtype::F32, {2}, "0"}}));
        zip.addEntry("archive/byteorder", std::string("big"));
        zip.addEntry("archive/data/0", std::string(8, '\0'));
        zip.finish();
        out.commit();
    }
    expectError<CheckpointError>([&] { TorchCheckpoint::open(path); }, {path, "byte order \"big\""});
}

// Export -------------------------------------------------------------------------------------

void expectExportRoundTrip(const Model& m, const TorchExportOptions& o, at::ScalarType want) {
    ScratchDir dir;
    const std::string path = dir.file("export.pt");
    exportTorchStateDict(path, m, o);
    const TorchCheckpoint c = TorchCheckpoint::open(path);
    ASSERT_EQ(c.tensors().size(), 4u);
    EXPECT_EQ(c.archiveName(), o.archiveName);
    const std::pair<const char*, const at::Tensor*> items[] = {
        {"weights", &m.weights}, {"biases", &m.biases}, {"node_bias", &m.nodeBias}, {"positions", &m.positions}};
    for (const auto& [key, tensor] : items) {
        const TorchTensorRecord* r = c.find(key);
        ASSERT_NE(r, nullptr) << key;
        EXPECT_EQ(r->originalKey, o.keyPrefix + key);
        EXPECT_TRUE(TorchCheckpoint::isContiguous(*r));
        const at::Tensor t = tensorFromCheckpoint(c, *r);
        EXPECT_TRUE(bitEqual(t, tensor->to(want))) << key;
        EXPECT_NO_THROW(c.storageBytes(*r, /*verifyCrc=*/true));
    }
}

TEST(TorchExport, RoundTripsBitExactly) {
    expectExportRoundTrip(test::smallModel(at::kFloat), {}, at::kFloat);
    expectExportRoundTrip(test::smallModel(at::kDouble), {}, at::kDouble);
    TorchExportOptions half;
    half.dtype = StorageDtype::F16;
    expectExportRoundTrip(test::smallModel(at::kFloat), half, at::kHalf);
    TorchExportOptions bf;
    bf.dtype = StorageDtype::BF16;
    bf.keyPrefix = "module.";
    bf.archiveName = "model_en";
    expectExportRoundTrip(test::smallModel(at::kFloat), bf, at::kBFloat16);
    TorchExportOptions zip64;
    zip64.forceZip64 = true;
    expectExportRoundTrip(test::smallModel(at::kFloat), zip64, at::kFloat);
}

TEST(TorchExport, ExportOfAFixtureMatchesPythonsValues) {
    // Read Python's file, export it, read ours: the same numbers.
    const json e = test::expectedValues();
    const TorchCheckpoint c = TorchCheckpoint::open(fixture("plain.pt"));
    Model m;
    m.weights = tensorFromCheckpoint(c, *c.find("weights"));
    m.biases = tensorFromCheckpoint(c, *c.find("biases"));
    m.nodeBias = tensorFromCheckpoint(c, *c.find("node_bias"));
    m.positions = tensorFromCheckpoint(c, *c.find("positions"));
    ScratchDir dir;
    exportTorchStateDict(dir.file("again.pt"), m);
    expectValues(TorchCheckpoint::open(dir.file("again.pt")), e["plain"], kParams);
}

// Python's torch.load on our export, and our reader on what Python saves back. Skipped where
// Debian's python3-torch is not installed (CI); run here by hand when it is.
TEST(TorchExport, PythonTorchLoadsOurExport) {
    const char* python = "/usr/bin/python3";
    if (std::system((std::string(python) + " -c 'import torch' >/dev/null 2>&1").c_str()) != 0)
        GTEST_SKIP() << "python3-torch is not installed";
    ScratchDir dir;
    const Model m = test::smallModel(at::kFloat);
    TorchExportOptions zip64;
    zip64.forceZip64 = true;
    exportTorchStateDict(dir.file("ours.pt"), m);
    exportTorchStateDict(dir.file("ours64.pt"), m, zip64);
    const std::string script =
        "import torch, sys\n"
        "for src, dst in ((sys.argv[1], sys.argv[2]), (sys.argv[3], sys.argv[4])):\n"
        "    sd = torch.load(src, weights_only=True)\n"
        "    assert list(sd.keys()) == ['weights', 'biases', 'node_bias', 'positions'], list(sd.keys())\n"
        "    torch.save(sd, dst)\n";
    test::writeText(dir.file("load.py"), script);
    const std::string cmd = std::string(python) + " " + dir.file("load.py") + " " + dir.file("ours.pt") + " " +
                            dir.file("theirs.pt") + " " + dir.file("ours64.pt") + " " + dir.file("theirs64.pt");
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    for (const char* name : {"theirs.pt", "theirs64.pt"}) {
        const TorchCheckpoint c = TorchCheckpoint::open(dir.file(name));
        EXPECT_TRUE(bitEqual(tensorFromCheckpoint(c, *c.find("weights")), m.weights)) << name;
        EXPECT_TRUE(bitEqual(tensorFromCheckpoint(c, *c.find("node_bias")), m.nodeBias)) << name;
        EXPECT_TRUE(bitEqual(tensorFromCheckpoint(c, *c.find("positions")), m.positions)) << name;
    }
}

} // namespace
} // namespace brillm
