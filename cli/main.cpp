// duetctl: the operator's command line for a Duet manager pair.

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "cli/connection.h"
#include "cli/events_commands.h"
#include "cli/jobs_commands.h"
#include "cli/notify_commands.h"
#include "cli/ha_commands.h"
#include "cli/monitoring_commands.h"
#include "cli/repository_commands.h"
#include "cli/settings_commands.h"
#include "cli/status_command.h"
#include "cli/timing_command.h"
#include "duet/version.h"

namespace {

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto comma = text.find(',', start);
    const auto item =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"duetctl: operate a Duet manager pair", "duetctl"};
  app.set_version_flag("--version", std::string("duetctl ") + DUET_VERSION);
  app.require_subcommand(1);
  app.fallthrough();

  std::string managers;
  duet::cli::ConnectionOptions options;
  bool insecure = false;
  bool json = false;
  double timeout_s = 5.0;
  app.add_option("-m,--manager", managers, "HOST:PORT[,HOST:PORT] of the manager(s)")
      ->envname("DUET_MANAGER")
      ->required();
  app.add_option("--ca", options.tls.ca_file, "CA certificate (PEM)")->envname("DUET_TLS_CA");
  app.add_option("--cert", options.tls.cert_file, "client certificate (PEM)")
      ->envname("DUET_TLS_CERT");
  app.add_option("--key", options.tls.key_file, "client key (PEM)")->envname("DUET_TLS_KEY");
  app.add_option("--server-name", options.tls.server_name,
                 "name to expect in the managers' certificates instead of the dialled host")
      ->envname("DUET_TLS_SERVER_NAME");
  app.add_flag("--insecure", insecure,
               "plaintext, for a manager configured 'tls: {insecure: true}'")
      ->envname("DUET_INSECURE");
  app.add_option("--timeout", timeout_s, "seconds to wait for each manager")->capture_default_str();
  app.add_flag("--json", json, "machine-readable output");

  auto* status = app.add_subcommand("status", "roles, epochs, replication and store of the pair");
  bool force = false;
  auto* promote = app.add_subcommand("promote", "make this manager master (needs --force)");
  promote->add_flag("--force", force, "the peer is known to be down");
  double wait_s = 60;
  auto* failback = app.add_subcommand(
      "failback", "bring the pair back to master + in-sync standby, whatever the failure was");
  failback->add_option("--wait", wait_s, "seconds to wait for the pair to be whole")
      ->capture_default_str();
  auto* switchover = app.add_subcommand(
      "switchover", "planned role swap: the standby takes over with nothing lost");
  switchover->add_option("--wait", wait_s, "seconds to wait for the pair to be whole")
      ->capture_default_str();

  auto* ha = app.add_subcommand("ha", "the HA pair's own settings");
  ha->require_subcommand(1);
  duet::cli::TimingChange timing_change;
  auto* ha_timing = ha->add_subcommand(
      "timing", "show or change the heartbeat interval and failover timeout of both nodes");
  ha_timing->add_option("--interval", timing_change.interval, "new interval: 200, 200ms, 1s");
  ha_timing->add_option("--timeout", timing_change.timeout, "new failover timeout: 3000, 3s");
  ha_timing->add_flag("--reset", timing_change.reset,
                      "drop the run-time change: each node goes back to its config file");
  ha_timing->add_option("--wait", timing_change.wait_s, "seconds to wait for both nodes to use it")
      ->capture_default_str();

  auto* settings = app.add_subcommand("settings", "the replicated settings table");
  settings->require_subcommand(1);
  std::string setting_key;
  std::string setting_value;
  auto* settings_set = settings->add_subcommand("set", "set KEY to VALUE (on the master)");
  settings_set->add_option("key", setting_key, "setting key")->required();
  settings_set->add_option("value", setting_value, "new value")->required();
  auto* settings_get = settings->add_subcommand("get", "show the value of KEY");
  settings_get->add_option("key", setting_key, "setting key")->required();
  auto* settings_list = settings->add_subcommand("list", "every setting, in key order");

  auto* events = app.add_subcommand("events", "events received from syslog and SNMP");
  events->require_subcommand(1);
  duet::cli::EventsListArgs events_args;
  auto* events_list = events->add_subcommand("list", "the newest events, newest first");
  events_list->add_option("--since", events_args.since,
                          "received since: unix ms, 2026-11-21T04:00:00Z, or an age (15m, 2h)");
  events_list->add_option("--source", events_args.source, "sender address");
  events_list->add_option("--priority", events_args.priority, "critical, warning, info, unknown")
      ->check(CLI::IsMember({"critical", "warning", "info", "unknown"}));
  events_list->add_option("--limit", events_args.limit, "at most N events")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  events_list->add_flag("--raw", events_args.raw, "include the raw message (JSON)");
  auto* events_count = events->add_subcommand("count", "how many events, by priority and protocol");
  auto* events_counters =
      events->add_subcommand("counters", "each manager's receivers: received, parsed, ...");

  duet::cli::RepositoryCommands repository(app);
  duet::cli::MonitoringCommands monitoring(app);
  duet::cli::NotifyCommands notify(app, *events);
  duet::cli::JobsCommands jobs(app);

  CLI11_PARSE(app, argc, argv);

  options.managers = split_list(managers);
  if (options.managers.empty()) {
    std::cerr << "duetctl: --manager: give at least one HOST:PORT\n";
    return 2;
  }
  for (const auto& m : options.managers) {
    std::string why;
    if (!duet::parse_host_port(m, &why)) {
      std::cerr << "duetctl: --manager: " << why << "\n";
      return 2;
    }
  }
  options.tls.insecure = insecure;
  if (!insecure && (options.tls.ca_file.empty() || options.tls.cert_file.empty() ||
                    options.tls.key_file.empty())) {
    std::cerr << "duetctl: give --ca, --cert and --key (or DUET_TLS_CA, DUET_TLS_CERT, "
                 "DUET_TLS_KEY), or --insecure for a manager without TLS\n";
    return 2;
  }
  options.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(timeout_s * 1000));

  if (status->parsed()) return duet::cli::run_status(options, json, std::cout, std::cerr);
  if (promote->parsed()) return duet::cli::run_promote(options, force, json, std::cout, std::cerr);
  if (switchover->parsed()) {
    return duet::cli::run_switchover(options, wait_s, json, std::cout, std::cerr);
  }
  if (failback->parsed()) {
    return duet::cli::run_failback(options, wait_s, json, std::cout, std::cerr);
  }
  if (ha_timing->parsed()) {
    return duet::cli::run_ha_timing(options, timing_change, json, std::cout, std::cerr);
  }
  if (events_list->parsed()) {
    return duet::cli::run_events_list(options, events_args, json, std::cout, std::cerr);
  }
  if (events_count->parsed())
    return duet::cli::run_events_count(options, json, std::cout, std::cerr);
  if (events_counters->parsed()) {
    return duet::cli::run_events_counters(options, json, std::cout, std::cerr);
  }
  if (auto rc = repository.run(options, json, std::cout, std::cerr)) return *rc;
  if (auto rc = monitoring.run(options, json, std::cout, std::cerr)) return *rc;
  if (auto rc = notify.run(options, json, std::cout, std::cerr)) return *rc;
  if (auto rc = jobs.run(options, json, std::cout, std::cerr)) return *rc;
  if (settings_set->parsed()) {
    return duet::cli::run_settings_set(options, setting_key, setting_value, json, std::cout,
                                       std::cerr);
  }
  if (settings_get->parsed()) {
    return duet::cli::run_settings_get(options, setting_key, json, std::cout, std::cerr);
  }
  if (settings_list->parsed()) {
    return duet::cli::run_settings_list(options, json, std::cout, std::cerr);
  }
  return 2;
}
