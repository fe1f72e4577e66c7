#pragma once

// Sending one intent through one channel: the glue of the notification
// outbox. Blocking, with the channel's time limit: run on a worker thread.
//
//   webhook  HTTP POST (or PUT) of the body template (JSON-escaped values;
//            by default a JSON object of every variable), with headers
//            Idempotency-Key (the intent's key) and X-Duet-Epoch. 2xx is sent;
//            408, 429 and 5xx are retried; other statuses fail at once.
//   mail     SMTP through libcurl: STARTTLS off / try / required, AUTH with
//            user and password_file, Message-ID <KEY@duet> so a resend is
//            recognisably the same mail.
//   command  /bin/sh -c with each variable in the environment as DUET_NAME
//            (upper case; other characters '_'); exit 0 is sent. Variables are
//            never put into the command text, so an event cannot inject a command.
//   syslog   RFC 5424 with structured data [duet@32473 key=... priority=...],
//            over UDP, TCP (octet-counted) or TLS (RFC 5425).
//
// A Deliverer keeps its connections (HTTP keep-alive, syslog TCP/TLS) between
// sends; one per worker thread.

#include <map>
#include <memory>
#include <string>

#include "duet/v1/notify.pb.h"

namespace duet::notify {

struct Delivery {
  bool ok = false;
  bool permanent = false;  // retrying cannot help (a 4xx, a missing password file)
  std::string error;       // never holds a secret
};

// What the templates and the command's environment see: the intent's vars
// plus id, key, notification, channel, event_id, epoch.
std::map<std::string, std::string> template_vars(const duet::v1::NotifyIntent& intent);

// The default webhook body: a JSON object of template_vars().
std::string default_json(const std::map<std::string, std::string>& vars);

class Deliverer {
 public:
  // `sender`: this manager's name (syslog HOSTNAME, the mail's Message-ID host).
  explicit Deliverer(std::string sender);
  ~Deliverer();
  Deliverer(const Deliverer&) = delete;
  Deliverer& operator=(const Deliverer&) = delete;

  Delivery deliver(const duet::v1::ChannelDef& channel, const duet::v1::NotifyIntent& intent);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace duet::notify
