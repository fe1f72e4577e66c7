#include "snmp/mib_names.h"

#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string_view>

#include "common/errors.h"

namespace duet::snmp {
namespace {

// net-snmp's parser keeps its tree in globals: one load at a time.
std::mutex& parser_mutex() {
  static std::mutex mu;
  return mu;
}

// net-snmp's messages (a module not found, a parse error) go to our log at
// debug level instead of the process's stderr.
int log_to_spdlog(int, int, void*, void* message) {
  const auto* m = static_cast<const snmp_log_message*>(message);
  if (m != nullptr && m->msg != nullptr) {
    std::string text(m->msg);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    spdlog::debug("snmp mibs: {}", text);
  }
  return 0;
}

std::string join(const std::vector<std::string>& parts, char sep) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out.push_back(sep);
    out += p;
  }
  return out;
}

}  // namespace

void MibNames::add(const std::vector<std::uint32_t>& arcs, std::string name) {
  Node* node = &root_;
  for (std::uint32_t arc : arcs) {
    auto it = std::lower_bound(node->children.begin(), node->children.end(), arc,
                               [](const Node& n, std::uint32_t a) { return n.sub < a; });
    if (it == node->children.end() || it->sub != arc) {
      it = node->children.insert(it, Node{arc, {}, {}});
    }
    node = &*it;
  }
  if (node->name.empty() && !name.empty()) ++named_;
  node->name = std::move(name);
}

std::shared_ptr<const MibNames> MibNames::from(
    const std::vector<std::pair<Oid, std::string>>& names) {
  auto m = std::make_shared<MibNames>();
  for (const auto& [oid, name] : names) m->add(oid.arcs, name);
  return m;
}

std::string MibNames::name(const Oid& oid) const {
  const Node* node = &root_;
  const Node* named = nullptr;
  std::size_t named_depth = 0;
  for (std::size_t i = 0; i < oid.arcs.size(); ++i) {
    auto it = std::lower_bound(node->children.begin(), node->children.end(), oid.arcs[i],
                               [](const Node& n, std::uint32_t a) { return n.sub < a; });
    if (it == node->children.end() || it->sub != oid.arcs[i]) break;
    node = &*it;
    if (!node->name.empty()) {
      named = node;
      named_depth = i + 1;
    }
  }
  if (named == nullptr) return oid.to_string();
  std::string out = named->name;
  for (std::size_t i = named_depth; i < oid.arcs.size(); ++i) {
    out.push_back('.');
    out += std::to_string(oid.arcs[i]);
  }
  return out;
}

Result<std::shared_ptr<const MibNames>> MibNames::load(const MibOptions& options) {
  std::vector<std::string> dirs = options.dirs;
  if (dirs.empty()) {
    dirs = {"/usr/share/snmp/mibs", "/usr/share/snmp/mibs/iana", "/usr/share/snmp/mibs/ietf"};
  }
  std::vector<std::string> readable;
  for (const auto& d : dirs) {
    std::error_code ec;
    if (std::filesystem::is_directory(d, ec)) readable.push_back(d);
  }
  if (readable.empty()) {
    return make_error(
        CommonErrc::kInvalidConfig,
        "receivers.snmp.mibs: none of the MIB directories can be read (" + join(dirs, ':') + ")");
  }

  std::lock_guard lock(parser_mutex());
  // Quiet: a module that is missing or does not parse is skipped, not printed.
  netsnmp_ds_set_int(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_MIB_WARNINGS, 0);
  netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_MIB_ERRORS, 0);
  static const bool logging = [] {
    snmp_disable_log();
    snmp_register_callback(SNMP_CALLBACK_LIBRARY, SNMP_CALLBACK_LOGGING, log_to_spdlog, nullptr);
    netsnmp_register_loghandler(NETSNMP_LOGHANDLER_CALLBACK, LOG_DEBUG);
    return true;
  }();
  (void)logging;
  // Only these directories, and no default module list from the environment.
  netsnmp_set_mib_directory(join(readable, ':').c_str());
  // MIBS is read by netsnmp_init_mib; the process's own value comes back after.
  const char* had = std::getenv("MIBS");
  const std::optional<std::string> saved = had ? std::optional<std::string>(had) : std::nullopt;
  setenv("MIBS", "", 1);
  netsnmp_init_mib();
  if (saved) {
    setenv("MIBS", saved->c_str(), 1);
  } else {
    unsetenv("MIBS");
  }
  const bool all =
      std::find(options.modules.begin(), options.modules.end(), "ALL") != options.modules.end();
  if (all) {
    read_all_mibs();
  } else {
    for (const auto& m : options.modules) (void)read_module(m.c_str());
  }

  auto names = std::make_shared<MibNames>();
  // Depth-first over net-snmp's tree, copying every node a module defines.
  struct Frame {
    tree* node;
    std::vector<std::uint32_t> arcs;
  };
  std::vector<Frame> stack;
  for (tree* t = get_tree_head(); t != nullptr; t = t->next_peer) {
    stack.push_back({t, {static_cast<std::uint32_t>(t->subid)}});
  }
  char module[SPRINT_MAX_LEN];
  while (!stack.empty()) {
    Frame f = std::move(stack.back());
    stack.pop_back();
    // Nodes a module names (not the anonymous ones net-snmp makes for the
    // arcs of "{ iso 3 6 1 ... }").
    if (f.node->label != nullptr && f.node->modid >= 0 &&
        std::string_view(f.node->label).rfind("anonymous#", 0) != 0) {
      module[0] = '\0';
      module_name(f.node->modid, module);
      if (module[0] != '\0' && module[0] != '#') {
        names->add(f.arcs, std::string(module) + "::" + f.node->label);
      }
    }
    for (tree* c = f.node->child_list; c != nullptr; c = c->next_peer) {
      auto arcs = f.arcs;
      arcs.push_back(static_cast<std::uint32_t>(c->subid));
      stack.push_back({c, std::move(arcs)});
    }
  }
  shutdown_mib();
  return std::shared_ptr<const MibNames>(std::move(names));
}

}  // namespace duet::snmp
