// duet-agent: runs monitors on a managed host for a Duet pair, keeps their
// results in a durable outbox and sends them to the master (agent/agent.h,
// docs/agent.md).

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <filesystem>
#include <iostream>

#include "agent/agent.h"
#include "common/config.h"
#include "common/crash_report.h"
#include "common/log.h"
#include "common/tls.h"
#include "duet/version.h"

int main(int argc, char** argv) {
  CLI::App app{"duet-agent: runs monitors and jobs on a managed host", "duet-agent"};
  std::string config_file;
  app.add_option("-c,--config", config_file, "YAML configuration file")->required();
  app.set_version_flag("--version", std::string("duet-agent ") + DUET_VERSION);
  CLI11_PARSE(app, argc, argv);

  duet::AgentConfig config;
  try {
    config = duet::load_agent_config(config_file);
  } catch (const duet::ConfigError& e) {
    std::cerr << "config error: " << e.what() << "\n";
    return 2;
  }
  if (auto s = duet::setup_logging(config.log, "duet-agent"); !s.ok()) {
    std::cerr << "config error: " << config_file << ": log.file: " << s.error().to_string() << "\n";
    return 2;
  }
  duet::install_crash_report("duet-agent", config.log.file);
  // SIGINT and SIGTERM are caught from here on, before the "started" line
  // below: a signal sent as soon as that line appears stops the agent
  // cleanly (it is kept until io.run()), instead of killing it outright.
  boost::asio::io_context io;
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (!ec) spdlog::info("received signal {} ({}); stopping", signo, strsignal(signo));
    io.stop();
  });
  if (config.tls.insecure) {
    spdlog::warn("tls: insecure: true — talking to managers WITHOUT TLS; local demos only");
  } else if (!config.enrol_token.empty() && !std::filesystem::exists(config.tls.cert_file)) {
    spdlog::info("tls: no certificate at {} yet: enrolling with the token", config.tls.cert_file);
  } else if (auto creds = duet::make_channel_credentials(config.tls); !creds.ok()) {
    spdlog::error("tls: {}", creds.error().to_string());
    return 1;
  }
  std::string managers;
  for (const auto& m : config.managers) managers += (managers.empty() ? "" : ", ") + m.to_string();
  spdlog::info("duet-agent {} started: node {}, managers {}, outbox {}", DUET_VERSION, config.node,
               managers, config.outbox);

  duet::agent::AgentProcess agent(config);
  if (auto s = agent.start(); !s.ok()) {
    spdlog::error("{}", s.error().to_string());
    return 1;
  }
  io.run();
  agent.stop();
  spdlog::info("duet-agent stopped");
  return 0;
}
