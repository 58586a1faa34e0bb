// SPDX-License-Identifier: GPL-3.0-or-later
// The model file: bit-exact round trips, zero-copy mapping, atomic writes, verify, and every
// kind of damaged or foreign file rejected with a CheckpointError that names it.
#include "test_checkpoint_util.h"

#include "brillm/error.h"
#include "brillm/io/model_file.h"
#include "brillm/io/safetensors.h"
#include "io/detail/checksum.h"
#include "io/detail/sha256.h"

#include <ATen/ATen.h>

#include <cstring>
#include <random>

namespace brillm {
namespace {

using nlohmann::json;
using test::expectError;
using test::ScratchDir;

bool bitEqual(const at::Tensor& a, const at::Tensor& b) {
    if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
    const at::Tensor ca = a.contiguous(), cb = b.contiguous();
    return std::memcmp(ca.data_ptr(), cb.data_ptr(), static_cast<size_t>(ca.nbytes())) == 0;
}

void expectSameModel(const Model& a, const Model& b) {
    EXPECT_EQ(a.config.vocabSize, b.config.vocabSize);
    EXPECT_EQ(a.config.dim, b.config.dim);
    EXPECT_EQ(a.config.maxPositions, b.config.maxPositions);
    EXPECT_TRUE(a.edges == b.edges);
    EXPECT_TRUE(bitEqual(a.weights, b.weights));
    EXPECT_TRUE(bitEqual(a.biases, b.biases));
    EXPECT_TRUE(bitEqual(a.nodeBias, b.nodeBias));
    EXPECT_TRUE(bitEqual(a.positions, b.positions));
}

ModelMetadata sampleMetadata() {
    ModelMetadata m;
    m.vocabulary = {"<unk>", "的", "Ġthe", "a\"b\\c", "\n", "z"};
    m.tokenizerKind = "byte-level-bpe";
    m.tokenizerJson = "{\"model\": {\"type\": \"BPE\"}, \"note\": \"kept verbatim\"}\n";
    m.provenanceJson = R"({"corpus":"tiny","steps":12,"lr":0.05})";
    return m;
}

// Splits a model file into its header JSON and data, and reassembles it.
struct FileParts {
    json header;
    std::vector<std::byte> data;

    static FileParts of(const std::vector<std::byte>& file) {
        uint64_t n = 0;
        for (int i = 7; i >= 0; --i)
            n = (n << 8) | std::to_integer<uint64_t>(file[static_cast<size_t>(i)]);
        FileParts p;
        p.header = json::parse(reinterpret_cast<const char*>(file.data()) + 8,
                               reinterpret_cast<const char*>(file.data()) + 8 + n);
        p.data.assign(file.begin() + 8 + static_cast<std::ptrdiff_t>(n), file.end());
        return p;
    }
    std::vector<std::byte> bytes() const {
        std::string text = header.dump();
        text.append((8 - text.size() % 8) % 8, ' ');
        std::vector<std::byte> out(8);
        for (int i = 0; i < 8; ++i)
            out[static_cast<size_t>(i)] = static_cast<std::byte>((text.size() >> (8 * i)) & 0xFF);
        for (char c : text)
            out.push_back(static_cast<std::byte>(c));
        out.insert(out.end(), data.begin(), data.end());
        return out;
    }
};

class ModelFileTest : public ::testing::Test {
protected:
    ScratchDir dir;
};

TEST_F(ModelFileTest, RoundTripFloat32IsBitExact) {
    const Model m = test::smallModel(at::kFloat);
    const std::string path = dir.file("m.brillm");
    ModelFile::save(path, m, sampleMetadata());
    const LoadedModel loaded = ModelFile::load(path);
    expectSameModel(m, loaded.model);
    EXPECT_EQ(loaded.storedDtype, StorageDtype::F32);
    EXPECT_EQ(loaded.model.dtype(), at::kFloat);
    const ModelMetadata want = sampleMetadata();
    EXPECT_EQ(loaded.metadata.vocabulary, want.vocabulary);
    EXPECT_EQ(loaded.metadata.tokenizerKind, want.tokenizerKind);
    EXPECT_EQ(loaded.metadata.tokenizerJson, want.tokenizerJson);
    EXPECT_EQ(json::parse(loaded.metadata.provenanceJson), json::parse(want.provenanceJson));
    EXPECT_NO_THROW(loaded.model.validate());
}

TEST_F(ModelFileTest, RoundTripFloat64IsBitExact) {
    const Model m = test::smallModel(at::kDouble);
    const std::string path = dir.file("m64.brillm");
    ModelFile::save(path, m, {});
    const ModelFile f = ModelFile::open(path);
    EXPECT_EQ(f.header().dtype, StorageDtype::F64);
    expectSameModel(m, f.model());
    EXPECT_TRUE(f.metadata().vocabulary.empty());
    // Asked for float32, a float64 file converts.
    EXPECT_TRUE(bitEqual(f.model(at::kFloat).weights, m.weights.to(at::kFloat)));
}

TEST_F(ModelFileTest, LayoutFollowsTheSafetensorsSpec) {
    const std::string path = dir.file("m.brillm");
    ModelFile::save(path, test::smallModel(), sampleMetadata());
    const auto bytes = test::readBytes(path);
    const FileParts parts = FileParts::of(bytes);
    // Data section 8-byte aligned; metadata values are all strings; offsets tile the data.
    EXPECT_EQ((bytes.size() - parts.data.size()) % 8, 0u);
    ASSERT_TRUE(parts.header.contains("__metadata__"));
    for (const auto& [k, v] : parts.header["__metadata__"].items())
        EXPECT_TRUE(v.is_string()) << k;
    EXPECT_EQ(parts.header["__metadata__"]["format"], "brillm-model");
    EXPECT_EQ(parts.header["__metadata__"]["format_version"], "1");
    EXPECT_EQ(parts.header["weights"]["dtype"], "F32");
    EXPECT_EQ(parts.header["edges.row_ptr"]["dtype"], "I64");
    EXPECT_EQ(parts.header["edges.targets"]["dtype"], "I32");
    const SafetensorsHeader h = SafetensorsHeader::parse(bytes, path);
    uint64_t offset = 0;
    for (const auto& e : h.entries) {
        EXPECT_EQ(e.begin, offset);
        EXPECT_EQ(e.begin % elementSize(e.dtype), 0u) << e.name;
        offset = e.end;
    }
    EXPECT_EQ(offset, parts.data.size());
}

TEST_F(ModelFileTest, ReadsAPlainSafetensorsFileFromTheSpec) {
    // The example of the safetensors README: a foreign file parses, then is named as foreign.
    std::string header = R"({"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]},"__metadata__":{"foo":"bar"}})";
    std::vector<std::byte> file(8);
    file[0] = static_cast<std::byte>(header.size());
    for (char c : header)
        file.push_back(static_cast<std::byte>(c));
    for (int i = 0; i < 16; ++i)
        file.push_back(static_cast<std::byte>(i));
    const SafetensorsHeader h = SafetensorsHeader::parse(file, "spec.safetensors");
    ASSERT_EQ(h.entries.size(), 1u);
    EXPECT_EQ(h.entries[0].shape, (std::vector<int64_t>{2, 2}));
    EXPECT_EQ(h.metadata.at("foo"), "bar");
    const std::string path = dir.file("spec.safetensors");
    test::writeBytes(path, file);
    expectError<CheckpointError>([&] { ModelFile::open(path); }, {path, "without a \"format\""});
}

TEST_F(ModelFileTest, TensorsAreViewsOfTheMappingNotCopies) {
    const std::string path = dir.file("m.brillm");
    const Model original = test::smallModel();
    ModelFile::save(path, original, {});
    Model m;
    std::shared_ptr<const MappedFile> mapping;
    {
        const ModelFile f = ModelFile::open(path);
        mapping = f.mapping();
        m = f.model();
        for (const at::Tensor* t : {&m.weights, &m.biases, &m.nodeBias, &m.positions}) {
            EXPECT_TRUE(f.mapping()->contains(t->data_ptr()));
            EXPECT_EQ(reinterpret_cast<uintptr_t>(t->data_ptr()) % 4, 0u);
        }
        EXPECT_TRUE(mapping->isMapped());
    }
    // The ModelFile is gone; the tensors keep the mapping alive.
    EXPECT_GT(mapping.use_count(), 1);
    EXPECT_TRUE(bitEqual(m.weights, original.weights));
    // Writes stay private to the process (copy-on-write), the file is untouched.
    m.weights.fill_(42.0f);
    const LoadedModel again = ModelFile::load(path);
    EXPECT_TRUE(bitEqual(again.model.weights, original.weights));
    EXPECT_TRUE(ModelFile::open(path).verify().ok());
}

TEST_F(ModelFileTest, HalfAndBfloat16StorageUsedInPlace) {
    const Model m = test::smallModel();
    for (auto [dtype, scalar] :
         {std::pair{StorageDtype::F16, at::kHalf}, std::pair{StorageDtype::BF16, at::kBFloat16}}) {
        const std::string path = dir.file(std::string("m_") + shortName(dtype) + ".brillm");
        ModelSaveOptions o;
        o.dtype = dtype;
        ModelFile::save(path, m, {}, o);
        const ModelFile f = ModelFile::open(path);
        EXPECT_EQ(f.header().dtype, dtype);
        EXPECT_EQ(f.tensor("weights").scalar_type(), scalar);
        EXPECT_TRUE(f.mapping()->contains(f.tensor("weights").data_ptr()));
        // As stored, zero-copy: the kernels read the half-precision values in place.
        const Model inPlace = f.model();
        EXPECT_EQ(inPlace.dtype(), scalar);
        EXPECT_TRUE(f.mapping()->contains(inPlace.weights.data_ptr()));
        EXPECT_TRUE(bitEqual(inPlace.weights, m.weights.to(scalar)));
        // Converted on request (training needs float32).
        const Model loaded = f.model(at::kFloat);
        EXPECT_EQ(loaded.dtype(), at::kFloat);
        EXPECT_TRUE(bitEqual(loaded.weights, m.weights.to(scalar).to(at::kFloat)));
        EXPECT_TRUE(bitEqual(loaded.positions, m.positions.to(scalar).to(at::kFloat)));
        // Saving the half-precision tensors again keeps every bit.
        Model raw = loaded;
        raw.weights = f.tensor("weights");
        raw.biases = f.tensor("biases");
        raw.nodeBias = f.tensor("node_bias");
        raw.positions = f.tensor("positions");
        const std::string again = dir.file(std::string("again_") + shortName(dtype) + ".brillm");
        ModelFile::save(again, raw, {});
        EXPECT_EQ(ModelFile::open(again).header().dtype, dtype);
        EXPECT_EQ(ModelFile::open(again).verify().computedChecksum, f.header().checksum);
    }
}

TEST_F(ModelFileTest, NonContiguousInputIsSavedInLogicalOrder) {
    Model m = test::smallModel();
    const at::Tensor logical = m.weights.clone();
    m.weights = m.weights.transpose(1, 2).contiguous().transpose(1, 2);
    ASSERT_FALSE(m.weights.is_contiguous());
    const std::string path = dir.file("m.brillm");
    ModelFile::save(path, m, {});
    EXPECT_TRUE(bitEqual(ModelFile::load(path).model.weights, logical));
}

TEST_F(ModelFileTest, VerifyChecksumAndNonFiniteValues) {
    Model m = test::smallModel();
    const std::string good = dir.file("good.brillm");
    ModelFile::save(good, m, {});
    const ModelVerifyReport ok = ModelFile::open(good).verify();
    EXPECT_TRUE(ok.ok());
    EXPECT_EQ(ok.storedChecksum, ok.computedChecksum);
    EXPECT_EQ(ok.storedChecksum.rfind("sha256:", 0), 0u);
    // The checksum is the SHA-256 of the data section.
    const auto bytes = test::readBytes(good);
    const FileParts parts = FileParts::of(bytes);
    EXPECT_EQ(ok.computedChecksum, "sha256:" + Sha256::hex(Sha256::of(parts.data)));

    // One flipped bit in the data: the header still opens, verify fails.
    auto damaged = bytes;
    const SafetensorsHeader layout = SafetensorsHeader::parse(bytes, good);
    damaged[layout.dataStart + layout.find("weights")->begin + 5] ^= std::byte{0x10};
    const std::string bad = dir.file("bad.brillm");
    test::writeBytes(bad, damaged);
    const ModelVerifyReport r = ModelFile::open(bad).verify();
    EXPECT_FALSE(r.ok());
    ASSERT_EQ(r.problems.size(), 1u);
    EXPECT_NE(r.problems[0].find("checksum mismatch"), std::string::npos);

    // NaN and Inf are counted per tensor with the first flat index.
    m.weights.view({-1})[5] = std::numeric_limits<float>::quiet_NaN();
    m.weights.view({-1})[9] = -std::numeric_limits<float>::infinity();
    m.positions.view({-1})[0] = std::numeric_limits<float>::infinity();
    for (StorageDtype dt : {StorageDtype::F32, StorageDtype::F16, StorageDtype::BF16, StorageDtype::F64}) {
        const std::string path = dir.file(std::string("nan_") + shortName(dt) + ".brillm");
        ModelSaveOptions o;
        o.dtype = dt;
        ModelFile::save(path, m, {}, o);
        const ModelVerifyReport n = ModelFile::open(path).verify();
        EXPECT_FALSE(n.ok());
        ASSERT_EQ(n.tensors.size(), 4u);
        for (const auto& t : n.tensors) {
            if (t.name == "weights") {
                EXPECT_EQ(t.nonFinite, 2);
                EXPECT_EQ(t.firstNonFinite, 5);
            } else if (t.name == "positions") {
                EXPECT_EQ(t.nonFinite, 1);
            } else {
                EXPECT_EQ(t.nonFinite, 0) << t.name;
            }
        }
        EXPECT_EQ(n.storedChecksum, n.computedChecksum);
    }
}

TEST_F(ModelFileTest, VerifyWorksOnBytesInMemory) {
    const std::string path = dir.file("m.brillm");
    ModelFile::save(path, test::smallModel(), {});
    const ModelFile f = ModelFile::fromMapping(MappedFile::fromBytes(test::readBytes(path), "memory"));
    EXPECT_FALSE(f.mapping()->isMapped());
    EXPECT_TRUE(f.verify().ok());
}

TEST_F(ModelFileTest, AFailedWriteLeavesTheOldFileIntact) {
    const std::string path = dir.file("m.brillm");
    ModelFile::save(path, test::smallModel(at::kFloat, 1), sampleMetadata());
    const auto before = test::readBytes(path);
    ASSERT_EQ(dir.entries(), 1u);

    // Cancelled half-way through the data.
    ModelSaveOptions o;
    int calls = 0;
    o.progress = [&](uint64_t done, uint64_t total) {
        ++calls;
        return done < total / 2;
    };
    EXPECT_THROW(ModelFile::save(path, test::smallModel(at::kFloat, 2), {}, o), CancelledError);
    EXPECT_GT(calls, 0);
    EXPECT_EQ(test::readBytes(path), before);
    EXPECT_EQ(dir.entries(), 1u) << "the temporary file was not removed";

    // Invalid models are refused before anything is written.
    Model wrong = test::smallModel();
    wrong.biases = wrong.biases.narrow(0, 0, 2);
    expectError<CheckpointError>([&] { ModelFile::save(path, wrong, {}); }, {path, "biases", "expected [8, 1, 3]"});
    ModelMetadata shortVocab;
    shortVocab.vocabulary = {"a"};
    expectError<CheckpointError>([&] { ModelFile::save(path, test::smallModel(), shortVocab); }, {"vocabulary has 1"});
    EXPECT_EQ(test::readBytes(path), before);
    EXPECT_EQ(dir.entries(), 1u);

    // A directory that does not exist: a clear error, nothing created.
    expectError<CheckpointError>([&] { ModelFile::save(dir.file("no/such/dir/m.brillm"), test::smallModel(), {}); },
                                 {"no/such/dir/m.brillm", "temporary file"});
    // Replacing works and the new file is complete.
    ModelFile::save(path, test::smallModel(at::kFloat, 3), {});
    EXPECT_TRUE(ModelFile::open(path).verify().ok());
    EXPECT_NE(test::readBytes(path), before);
}

// Damaged and foreign files ------------------------------------------------------------------

class BadModelFileTest : public ModelFileTest {
protected:
    void SetUp() override {
        const std::string path = dir.file("good.brillm");
        ModelFile::save(path, test::smallModel(), sampleMetadata());
        good = test::readBytes(path);
    }
    // Writes bytes and expects open() to fail with the file name and the fragments.
    void expectRejected(const std::vector<std::byte>& bytes, std::initializer_list<std::string> fragments) {
        const std::string path = dir.file("bad" + std::to_string(counter++) + ".brillm");
        test::writeBytes(path, bytes);
        expectError<CheckpointError>([&] { ModelFile::open(path); }, {path});
        expectError<CheckpointError>([&] { ModelFile::open(path); }, fragments);
    }
    void expectHeaderRejected(const std::function<void(json&)>& edit, std::initializer_list<std::string> fragments) {
        FileParts p = FileParts::of(good);
        edit(p.header);
        expectRejected(p.bytes(), fragments);
    }
    json& meta(json& h) { return h["__metadata__"]; }

    std::vector<std::byte> good;
    int counter = 0;
};

TEST_F(BadModelFileTest, TruncatedFiles) {
    expectRejected({}, {"at least 8"});
    expectRejected({good.begin(), good.begin() + 5}, {"at least 8"});
    expectRejected({good.begin(), good.begin() + 40}, {"truncated"});
    expectRejected({good.begin(), good.end() - 1}, {"truncated"});
    auto longer = good;
    longer.push_back(std::byte{0});
    expectRejected(longer, {"trailing bytes"});
    // Every prefix fails cleanly.
    for (size_t n = 0; n < good.size(); n += 7) {
        EXPECT_THROW(ModelFile::fromMapping(MappedFile::fromBytes(
                         {good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n)}, "prefix")),
                     CheckpointError)
            << n;
    }
}

TEST_F(BadModelFileTest, NotAModelFile) {
    std::vector<std::byte> text;
    for (char c : std::string("hello, this is not a model file at all"))
        text.push_back(static_cast<std::byte>(c));
    expectRejected(text, {"header length"});
    auto notJson = good;
    notJson[8] = std::byte{'['};
    expectRejected(notJson, {"does not start with '{'"});
    auto malformed = good;
    malformed[9] = std::byte{'}'};
    expectRejected(malformed, {"malformed header JSON"});
}

TEST_F(BadModelFileTest, WrongFormatOrVersion) {
    expectHeaderRejected([&](json& h) { meta(h)["format"] = "gguf"; }, {"format is \"gguf\""});
    expectHeaderRejected([&](json& h) { meta(h).erase("format"); }, {"without a \"format\""});
    expectHeaderRejected([&](json& h) { meta(h)["format_version"] = "2"; }, {"version 2", "newer"});
    expectHeaderRejected([&](json& h) { meta(h)["format_version"] = "one"; }, {"not a version number"});
    expectHeaderRejected([&](json& h) { meta(h).erase("config"); }, {"no \"config\""});
    expectHeaderRejected([&](json& h) { meta(h)["config"] = "{\"vocab_size\": 6}"; }, {"\"dim\""});
    expectHeaderRejected([&](json& h) { meta(h)["config"] = "not json"; }, {"\"config\" is not valid JSON"});
    expectHeaderRejected([&](json& h) { meta(h)["dtype"] = "I8"; }, {"dtype \"I8\""});
    expectHeaderRejected([&](json& h) { meta(h)["checksum"] = "md5:abc"; }, {"checksum"});
    expectHeaderRejected([&](json& h) { meta(h)["provenance"] = "[1, 2]"; }, {"provenance"});
    expectHeaderRejected([&](json& h) { meta(h)["vocabulary"] = "[\"a\", \"b\"]"; }, {"lists 2 tokens", "6"});
    expectHeaderRejected([&](json& h) { meta(h)["config"] = 5; }, {"\"config\" is not a string"});
}

TEST_F(BadModelFileTest, MalformedTensorIndex) {
    expectHeaderRejected([](json& h) { h["biases"]["dtype"] = "F8"; }, {"unsupported dtype \"F8\""});
    expectHeaderRejected([](json& h) { h["biases"]["shape"] = {-1, 1, 3}; }, {"non-negative"});
    expectHeaderRejected([](json& h) { h["biases"].erase("data_offsets"); }, {"\"data_offsets\""});
    expectHeaderRejected([](json& h) { h["biases"]["data_offsets"] = {"0", "4"}; }, {"two non-negative integers"});
    expectHeaderRejected([](json& h) { h["biases"] = 3; }, {"\"biases\" is not an object"});
    expectHeaderRejected(
        [](json& h) {
            // Overlap: biases moved onto the start of weights (sizes still match their shapes).
            auto w = h["weights"]["data_offsets"];
            const uint64_t len =
                h["biases"]["data_offsets"][1].get<uint64_t>() - h["biases"]["data_offsets"][0].get<uint64_t>();
            h["biases"]["data_offsets"] = {w[0], w[0].get<uint64_t>() + len};
        },
        {"overlaps"});
    expectHeaderRejected(
        [](json& h) {
            auto& o = h["positions"]["data_offsets"];
            o = {o[0].get<uint64_t>() + 4, o[1].get<uint64_t>() + 4};
        },
        {"hole"});
    expectHeaderRejected([](json& h) { h["biases"]["shape"] = {8, 1, 4}; }, {"do not match its shape"});
}

TEST_F(BadModelFileTest, ShapesThatDoNotFitConfigOrEdges) {
    // A config that disagrees with the tensors.
    expectHeaderRejected([&](json& h) { meta(h)["config"] = R"({"vocab_size":6,"dim":4,"max_positions":7})"; },
                         {"\"weights\" has shape [8, 3, 3], expected [8, 4, 4]"});
    expectHeaderRejected([&](json& h) { meta(h)["config"] = R"({"vocab_size":5,"dim":3,"max_positions":7})"; },
                         {"edges.row_ptr", "expected [6]"});
    expectHeaderRejected([&](json& h) { meta(h)["config"] = R"({"vocab_size":6,"dim":3,"max_positions":9})"; },
                         {"\"positions\"", "expected [1, 9, 1]"});
    // Slot count: a weights tensor of the wrong length (data moved to keep the index consistent).
    FileParts p = FileParts::of(good);
    p.header.erase("edges.targets");
    expectRejected(p.bytes(), {"tensors cover"});
    expectHeaderRejected([](json& h) { h.erase("node_bias"); }, {"a hole before tensor"});
    expectHeaderRejected(
        [](json& h) {
            h["weights"]["dtype"] = "F64";
            h["weights"]["shape"] = {4, 3, 3};
        },
        {"\"weights\" has dtype F64, expected F32"});
}

TEST_F(BadModelFileTest, InconsistentEdgeTable) {
    const SafetensorsHeader h = SafetensorsHeader::parse(good, "good");
    const SafetensorsEntry* targets = h.find("edges.targets");
    ASSERT_NE(targets, nullptr);
    auto bytes = good;
    // Target id out of range.
    int32_t big = 99;
    std::memcpy(bytes.data() + h.dataStart + targets->begin, &big, 4);
    expectRejected(bytes, {"edge table is inconsistent", "outside the vocabulary"});
    const SafetensorsEntry* rowPtr = h.find("edges.row_ptr");
    bytes = good;
    int64_t negative = -1;
    std::memcpy(bytes.data() + h.dataStart + rowPtr->begin + 8, &negative, 8);
    expectRejected(bytes, {"edge table is inconsistent"});
}

TEST_F(BadModelFileTest, RandomDamageNeverCrashes) {
    std::mt19937_64 rng(12345);
    int rejected = 0;
    for (int i = 0; i < 400; ++i) {
        auto bytes = good;
        const int flips = 1 + static_cast<int>(rng() % 4);
        const size_t headerEnd = std::min<size_t>(bytes.size(), 600);
        for (int k = 0; k < flips; ++k)
            bytes[rng() % headerEnd] = static_cast<std::byte>(rng() & 0xFF);
        try {
            const ModelFile f = ModelFile::fromMapping(MappedFile::fromBytes(bytes, "damaged"));
            (void)f.model();
        } catch (const CheckpointError&) {
            ++rejected;
        }
    }
    EXPECT_GT(rejected, 100);
}

// Checksums --------------------------------------------------------------------------------

std::string sha(const std::string& text) {
    return Sha256::hex(Sha256::of({reinterpret_cast<const std::byte*>(text.data()), text.size()}));
}

TEST(Checksum, Sha256KnownVectors) {
    // FIPS 180-4 / NIST example vectors, including a million 'a' fed in 1000-byte pieces
    EXPECT_EQ(sha(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    Sha256 h;
    const std::string a(1000, 'a');
    for (int i = 0; i < 1000; ++i)
        h.update(a.data(), a.size());
    EXPECT_EQ(Sha256::hex(h.finish()), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Checksum, Sha256IncrementalEqualsOneShotOnEveryLengthAndSplit) {
    std::mt19937 rng(3);
    std::vector<std::byte> data(700);
    for (auto& b : data)
        b = static_cast<std::byte>(rng());
    for (size_t n = 0; n < data.size(); n += 13) {
        const std::span<const std::byte> s(data.data(), n);
        const auto whole = Sha256::of(s);
        Sha256 split;
        split.update(s.first(n / 3));
        split.update(s.subspan(n / 3));
        EXPECT_EQ(split.finish(), whole) << n;
    }
}

TEST(Checksum, Crc32) {
    const std::string text = "123456789";
    const std::span<const std::byte> s(reinterpret_cast<const std::byte*>(text.data()), text.size());
    EXPECT_EQ(crc32(s), 0xCBF43926u);
    EXPECT_EQ(crc32(s.subspan(4), crc32(s.first(4))), 0xCBF43926u);
    EXPECT_EQ(crc32({}), 0u);
}

} // namespace
} // namespace brillm
