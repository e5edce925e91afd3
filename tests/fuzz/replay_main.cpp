// Runs a libFuzzer target over files and directories without libFuzzer (the fuzz-corpus tests in
// the gcc and ASan+UBSan builds): every seed must go through without a crash or sanitizer report.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  std::size_t count = 0;
  auto run = [&](const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    // Truncated and bit-flipped variants: the cheap half of what a fuzzer would try first.
    for (std::size_t cut : {bytes.size() / 2, bytes.size() / 3, std::size_t{512}})
      if (cut < bytes.size())
        LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), cut);
    for (std::size_t i = 64; i < bytes.size(); i += bytes.size() / 7 + 1) {
      auto flipped = bytes;
      flipped[i] = static_cast<char>(flipped[i] ^ 0x5A);
      LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(flipped.data()), flipped.size());
    }
    ++count;
  };
  for (int i = 1; i < argc; ++i) {
    std::filesystem::path p(argv[i]);
    if (std::filesystem::is_directory(p)) {
      for (const auto& e : std::filesystem::recursive_directory_iterator(p))
        if (e.is_regular_file()) run(e.path());
    } else {
      run(p);
    }
  }
  std::printf("%zu passed, 0 failed\n", count);
  return count > 0 ? 0 : 1;
}
