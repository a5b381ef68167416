#include "controlplane/identity/server_tls_files.h"

#include <stdlib.h>

#include <string_view>
#include <system_error>

#include "common/atomic_file.h"

namespace meshdeck::cp::identity {
namespace fs = std::filesystem;

namespace {
bool fail(std::string* error, std::string text) {
  if (error) *error = std::move(text);
  return false;
}

// N of a "gen-N" directory name, 0 for anything else.
uint64_t generationOf(const fs::path& p) {
  const std::string name = p.filename().string();
  if (name.rfind("gen-", 0) != 0 || name.size() == 4) return 0;
  uint64_t n = 0;
  for (char c : std::string_view(name).substr(4)) {
    if (c < '0' || c > '9') return 0;
    n = n * 10 + uint64_t(c - '0');
  }
  return n;
}
}  // namespace

ServerTlsFiles::ServerTlsFiles(fs::path dir, bool temporary)
    : dir_(std::move(dir)), temporary_(temporary) {}

ServerTlsFiles::~ServerTlsFiles() {
  if (!temporary_) return;
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::unique_ptr<ServerTlsFiles> ServerTlsFiles::open(const fs::path& dir, std::string* error) {
  std::error_code ec;
  if (dir.empty()) {
    std::string tmpl = (fs::temp_directory_path(ec) / "meshdeck-tls-XXXXXX").string();
    if (ec || !::mkdtemp(tmpl.data())) {
      fail(error, "cannot create a private directory for the TLS port's certificate");
      return nullptr;
    }
    return std::unique_ptr<ServerTlsFiles>(new ServerTlsFiles(tmpl, true));
  }
  fs::create_directories(dir, ec);
  if (!ec) fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (ec) {
    fail(error, "cannot create " + dir.string() + ": " + ec.message());
    return nullptr;
  }
  std::unique_ptr<ServerTlsFiles> files(new ServerTlsFiles(dir, false));
  for (const auto& entry : fs::directory_iterator(dir, ec))
    files->generation_ = std::max(files->generation_, generationOf(entry.path()));
  return files;
}

bool ServerTlsFiles::update(const std::string& key_pem, const std::string& chain_pem,
                            const std::string& roots_pem, std::string* error) {
  const uint64_t gen = generation_ + 1;
  const fs::path gen_dir = dir_ / ("gen-" + std::to_string(gen));
  std::error_code ec;
  fs::remove_all(gen_dir, ec);  // a leftover of an interrupted update
  fs::create_directory(gen_dir, ec);
  if (!ec) fs::permissions(gen_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (ec) return fail(error, "cannot create " + gen_dir.string() + ": " + ec.message());
  std::string why;
  for (const auto& [name, text] : {std::pair<const char*, const std::string*>{"key.pem", &key_pem},
                                   {"cert.pem", &chain_pem},
                                   {"roots.pem", &roots_pem}}) {
    if (!common::writeFileAtomically(gen_dir / name, *text, &why, 0600))
      return fail(error, "cannot write the TLS port's " + std::string(name) + ": " + why);
  }
  const fs::path link = dir_ / "current";
  const fs::path tmp = dir_ / "current.tmp";
  fs::remove(tmp, ec);
  fs::create_directory_symlink(gen_dir.filename(), tmp, ec);
  if (!ec) fs::rename(tmp, link, ec);
  if (ec) return fail(error, "cannot switch " + link.string() + ": " + ec.message());
  generation_ = gen;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const uint64_t g = generationOf(entry.path());
    if (g != 0 && g + 1 < gen) fs::remove_all(entry.path(), ec);
  }
  return true;
}

}  // namespace meshdeck::cp::identity
