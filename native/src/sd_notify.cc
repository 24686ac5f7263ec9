// sdNotify(state): the systemd notification protocol (sd_notify(3)) without libsystemd.
//
// If $NOTIFY_SOCKET is set (a filesystem path, or an abstract socket name starting with
// '@'), `state` ("READY=1", "WATCHDOG=1", "STOPPING=1", "STATUS=...", several separated by
// newlines) is sent as one datagram on an AF_UNIX SOCK_DGRAM socket. Returns true when it
// was sent, false when $NOTIFY_SOCKET is unset or empty; throws when it is set but the
// datagram could not be sent (bad address, no listener, ...), with the reason.

#include <napi.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

namespace shadowtap {

Napi::Value SdNotify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    throw Napi::TypeError::New(env, "sdNotify(state: string)");
  }
  std::string state = info[0].As<Napi::String>().Utf8Value();
  const char* e = std::getenv("NOTIFY_SOCKET");
  if (e == nullptr || e[0] == '\0') return Napi::Boolean::New(env, false);

  std::string where(e);
  struct sockaddr_un sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if ((where[0] != '/' && where[0] != '@') || where.size() < 2 ||
      where.size() >= sizeof sa.sun_path) {
    throw Napi::Error::New(env, "NOTIFY_SOCKET=\"" + where +
                                    "\": not an absolute path or @abstract name of a unix socket");
  }
  std::memcpy(sa.sun_path, where.data(), where.size());
  socklen_t len = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + where.size());
  if (where[0] == '@') {
    sa.sun_path[0] = '\0';  // abstract namespace: no terminating NUL counted
  } else {
    len += 1;  // include the path's NUL
  }

  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw Napi::Error::New(env, std::string("sd_notify: socket(AF_UNIX): ") + std::strerror(errno));
  }
  ssize_t n;
  do {
    // Never blocks the event loop: a full socket (systemd not reading) is an error, not a wait.
    n = sendto(fd, state.data(), state.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
               reinterpret_cast<struct sockaddr*>(&sa), len);
  } while (n < 0 && errno == EINTR);
  int err = errno;
  close(fd);
  if (n < 0) {
    throw Napi::Error::New(env, "sd_notify to " + where + ": " + std::strerror(err));
  }
  if (static_cast<size_t>(n) != state.size()) {
    throw Napi::Error::New(env, "sd_notify to " + where + ": short send");
  }
  return Napi::Boolean::New(env, true);
}

}  // namespace shadowtap
