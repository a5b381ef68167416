// meshdeckctl operator add | list | revoke, and meshdeckctl audit.
#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <boost/json.hpp>
#include <filesystem>
#include <iostream>

#include "common/duration.h"
#include "common/pki/credentials_file.h"
#include "tools/meshdeckctl/meshdeckctl.h"

namespace meshdeck::tools {
namespace v1 = meshdeck::v1;

namespace {
std::string join(const google::protobuf::RepeatedPtrField<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ",") + s;
  return out;
}
}  // namespace

int Ctl::operators() {
  if (o_.operator_action == "add") {
    if (o_.file.empty()) {
      std::cerr << "meshdeckctl: operator add needs -o FILE (where the new credentials go)\n";
      return 1;
    }
    std::error_code ec;
    if (std::filesystem::exists(o_.file, ec)) {
      std::cerr << fmt::format(
          "meshdeckctl: {} exists; remove it or choose another -o (credentials are never "
          "overwritten)\n",
          o_.file);
      return 1;
    }
    v1::AddOperatorRequest req;
    req.set_name(o_.name);
    req.set_role(o_.operator_role);
    v1::AddOperatorResponse r;
    auto s = stub_->AddOperator(context().get(), req, &r);
    if (!s.ok()) return failed(s);
    pki::Credentials c;
    c.operator_name = r.name();
    c.role = r.role();
    // The address this admin reached the control plane at beats the one it knows itself by
    // (a port forwarded, a NAT): the new operator most likely reaches it the same way.
    c.server = o_.server_given && !o_.credentials.empty() ? o_.server : r.server();
    c.certificate_pem = r.certificate_pem();
    c.key_pem = r.key_pem();
    c.trust_bundle_pem = r.trust_bundle_pem();
    std::string error;
    if (!pki::writeCredentialsFile(o_.file, c, &error)) {
      std::cerr << fmt::format(
          "meshdeckctl: operator {} was added but its credentials could not be written: {} "
          "(revoke it and add it under another name)\n",
          r.name(), error);
      return 1;
    }
    std::cout << fmt::format("operator {} ({}) added: {}; credentials written to {} (mode 0600)\n",
                             r.name(), r.role(), r.spiffe_id(), o_.file);
    return 0;
  }
  if (o_.operator_action == "revoke") {
    v1::RevokeOperatorRequest req;
    req.set_name(o_.name);
    v1::RevokeOperatorResponse r;
    auto s = stub_->RevokeOperator(context().get(), req, &r);
    if (!s.ok()) return failed(s);
    std::cout << r.message() << "\n";
    return 0;
  }
  v1::ListOperatorsResponse r;
  auto s = stub_->ListOperators(context().get(), {}, &r);
  if (!s.ok()) return failed(s);
  if (o_.output == "json") {
    std::string out;
    google::protobuf::util::JsonPrintOptions opts;
    opts.preserve_proto_field_names = true;
    (void)google::protobuf::util::MessageToJsonString(r, &out, opts);
    std::cout << out << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows{{"NAME", "ROLE", "STATE", "CREATED", "SERIALS"}};
  for (const auto& o : r.operators())
    rows.push_back(
        {o.name(), o.role(), o.revoked() ? "revoked" : "active", o.created(), join(o.serials())});
  std::vector<size_t> width(rows.front().size());
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i)
      line += i + 1 == row.size() ? row[i] : fmt::format("{:<{}}   ", row[i], width[i]);
    std::cout << line << "\n";
  }
  return 0;
}

int Ctl::audit() {
  v1::ReadAuditRequest req;
  if (!o_.since.empty()) {
    const auto d = common::parseDuration(o_.since);
    if (!d || d->count() <= 0) {
      std::cerr << fmt::format("meshdeckctl: --since \"{}\" is not a duration like 30m or 2h\n",
                               o_.since);
      return 1;
    }
    req.set_since_seconds(
        static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(*d).count()));
  }
  v1::ReadAuditResponse r;
  auto s = stub_->ReadAudit(context().get(), req, &r);
  if (!s.ok()) return failed(s);
  if (o_.output == "json") {
    for (const auto& line : r.entries()) std::cout << line << "\n";
    return 0;
  }
  namespace json = boost::json;
  std::cout << fmt::format("{:<24}   {:<12}   {:<18}   {:<8}   {:<8}   {}\n", "TIME", "IDENTITY",
                           "CALL", "OUTCOME", "REVISION", "DETAIL");
  for (const auto& line : r.entries()) {
    json::error_code ec;
    const auto v = json::parse(line, ec);
    if (ec || !v.is_object()) continue;
    const auto& o = v.as_object();
    auto str = [&](const char* key) -> std::string {
      const auto* f = o.if_contains(key);
      return f && f->is_string() ? std::string(f->as_string()) : "";
    };
    const auto* rev = o.if_contains("revision");
    const std::string revision =
        rev && rev->is_uint64() && rev->as_uint64() ? std::to_string(rev->as_uint64())
        : rev && rev->is_int64() && rev->as_int64() ? std::to_string(rev->as_int64())
                                                    : "-";
    std::cout << fmt::format("{:<24}   {:<12}   {:<18}   {:<8}   {:<8}   {}\n", str("time"),
                             str("identity"), str("call"), str("outcome"), revision, str("detail"));
  }
  return 0;
}

}  // namespace meshdeck::tools
