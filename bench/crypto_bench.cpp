// bench/crypto: sign+encrypt and decrypt+verify through the HSM (SoftHSM2 via libp11), beside the
// raw ceilings measured in the same run: SoftHSM2 C_Sign(CKM_SHA256_RSA_PKCS) and in-process
// OpenSSL RSA-2048 signing. Needs SEEGW_BENCH_TOKEN_DIR and SEEGW_BENCH_PKI (bench/crypto sets
// them); SEEGW_BENCH_HSM_MODULE names another PKCS#11 module (p11-kit-client.so for a token served
// by tools/hsm-server).
#include <benchmark/benchmark.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

#include "seegw/cms/smime.hpp"
#include "seegw/common/memory.hpp"
#include "seegw/pkcs11/hsm.hpp"

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

seegw::pkcs11::HsmConfig config() {
  seegw::pkcs11::HsmConfig c;
  c.token_label = "agency-a.govt.nz";
  c.pin_file = env("SEEGW_BENCH_TOKEN_DIR") + "/user.pin";
  if (auto module = env("SEEGW_BENCH_HSM_MODULE"); !module.empty()) c.module_path = module;
  return c;
}

struct Fixture {
  std::unique_ptr<seegw::pkcs11::Hsm> hsm;
  EVP_PKEY* key = nullptr;
  seegw::x509::Certificate cert, peer;
  Fixture() {
    auto h = seegw::pkcs11::Hsm::open(config());
    if (!h) throw std::runtime_error(h.error().message);
    hsm = std::move(*h);
    key = *hsm->private_key("dca");
    cert = std::move(*hsm->certificate("dca"));
    peer = std::move(
        *seegw::x509::load_certificate_file(env("SEEGW_BENCH_PKI") + "/certs/agency-c-dca.pem"));
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

std::string message(std::size_t size) {
  std::string m =
      "From: alice@agency-a.govt.nz\r\nTo: carol@agency-c.govt.nz\r\nSubject: bench\r\n\r\n";
  while (m.size() < size)
    m += "0123456789 the quarterly report of the agency, line of text......\r\n";
  m.resize(size);
  return m;
}

void BM_SignEncrypt(benchmark::State& state) {
  auto& f = fixture();
  const std::string m = message(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    auto out = seegw::cms::protect(m, {f.key, f.cert.get(), {}}, {f.peer.get()}, {});
    if (!out) state.SkipWithError(out.error().message.c_str());
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_DecryptVerify(benchmark::State& state) {
  auto& f = fixture();
  // Signed by our token key and enveloped to our own certificate: one HSM decryption per message.
  static std::mutex mutex;
  static std::map<long, std::string> made;
  std::string wire;
  {
    std::lock_guard lock(mutex);
    auto& w = made[state.range(0)];
    if (w.empty())
      w = *seegw::cms::protect(message(static_cast<std::size_t>(state.range(0))),
                               {f.key, f.cert.get(), {}}, {f.cert.get()}, {});
    wire = w;
  }
  for (auto _ : state) {
    auto out = seegw::cms::unprotect(wire, f.key, f.cert.get());
    if (!out || !out->signature_valid) state.SkipWithError("unprotect failed");
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_RawHsmSign(benchmark::State& state) {
  // One PKCS#11 session per thread, as the ceiling of what the token can sign.
  auto session = seegw::pkcs11::TokenSession::open(config());
  if (!session) {
    state.SkipWithError(session.error().message.c_str());
    return;
  }
  const std::string digest_input(32, 'x');
  for (auto _ : state) {
    auto sig = (*session)->sign_sha256_rsa("dca", digest_input);
    if (!sig) state.SkipWithError(sig.error().message.c_str());
    benchmark::DoNotOptimize(sig);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_OpenSslRsaSign(benchmark::State& state) {
  static EVP_PKEY* key = [] {
    FILE* f = std::fopen((env("SEEGW_BENCH_PKI") + "/certs/agency-c-dca.key").c_str(), "r");
    EVP_PKEY* k = f ? PEM_read_PrivateKey(f, nullptr, nullptr, nullptr) : nullptr;
    if (f) std::fclose(f);
    return k;
  }();
  const std::string data(32, 'x');
  unsigned char sig[512];
  for (auto _ : state) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    size_t len = sizeof sig;
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
    EVP_DigestSign(ctx, sig, &len, reinterpret_cast<const unsigned char*>(data.data()),
                   data.size());
    EVP_MD_CTX_free(ctx);
    benchmark::DoNotOptimize(sig);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_SignEncrypt)
    ->Arg(1024)
    ->Arg(10240)
    ->Arg(102400)
    ->Arg(1048576)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime()
    ->MinTime(1.0);
BENCHMARK(BM_DecryptVerify)
    ->Arg(1024)
    ->Arg(10240)
    ->Arg(102400)
    ->Arg(1048576)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime()
    ->MinTime(1.0);
BENCHMARK(BM_RawHsmSign)->Threads(1)->Threads(2)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_OpenSslRsaSign)->Threads(1)->Threads(2)->UseRealTime()->MinTime(1.0);

}  // namespace

int main(int argc, char** argv) {
  seegw::memory::keep_freed_message_buffers();  // as the data plane runs
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
