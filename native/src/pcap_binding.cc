// shadowtap_pcap: a small, batch-oriented Node-API binding over libpcap.
//
// Batch record format (shared by live and offline capture): a buffer of
// consecutive records, each a 16-byte little-endian header
//   u32 ts_sec, u32 ts_usec, u32 caplen, u32 wirelen
// followed by `caplen` bytes of packet data, no padding.  (This is exactly the
// per-record layout of a little-endian, microsecond pcap file.)
//
// OfflineHandle: synchronous reads of pcap/pcapng files into a caller-owned
//   buffer (no per-packet JS calls, no retained pointers into JS memory).
// LiveHandle: a dedicated capture thread polls the (non-blocking) pcap handle
//   and an eventfd of its own, reads with pcap_dispatch and hands whole
//   batches to JS through a thread-safe function.  The thread never blocks on
//   JS: when too many bytes are queued for JS (or JS asks it to hold), it
//   stops reading and the packets wait in the kernel's ring, where the
//   kernel drops (and counts) what no longer fits.  Delivered batches are
//   Buffers owned by JS (copies by default; batch memory is recycled through
//   a small pool).  close() never waits for the thread: onEnd reports its
//   end.

#include <napi.h>
#include <pcap/pcap.h>

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio_ext.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <linux/if_packet.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace shadowtap {
// sd_notify.cc: the systemd notification protocol.
Napi::Value SdNotify(const Napi::CallbackInfo& info);
}  // namespace shadowtap

namespace {

constexpr size_t kRecordHeader = 16;
constexpr size_t kOfflineIoBuffer = 256 * 1024;

inline void PutU32LE(uint8_t* p, uint32_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  std::memcpy(p, &v, 4);
#else
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
  p[2] = static_cast<uint8_t>(v >> 16);
  p[3] = static_cast<uint8_t>(v >> 24);
#endif
}

inline void WriteRecord(uint8_t* dst, const struct pcap_pkthdr* h,
                        const u_char* data) {
  PutU32LE(dst, static_cast<uint32_t>(h->ts.tv_sec));
  PutU32LE(dst + 4, static_cast<uint32_t>(h->ts.tv_usec));
  PutU32LE(dst + 8, h->caplen);
  PutU32LE(dst + 12, h->len);
  std::memcpy(dst + kRecordHeader, data, h->caplen);
}

// Compiles and installs a BPF filter. Returns an error message or "".
std::string InstallFilter(pcap_t* p, const std::string& filter,
                          bpf_u_int32 netmask) {
  struct bpf_program prog;
  if (pcap_compile(p, &prog, filter.c_str(), 1, netmask) != 0) {
    return "invalid capture filter \"" + filter + "\": " + pcap_geterr(p);
  }
  int rc = pcap_setfilter(p, &prog);
  pcap_freecode(&prog);
  if (rc != 0) {
    return "cannot set capture filter \"" + filter + "\": " + pcap_geterr(p);
  }
  return "";
}

// ---- option helpers --------------------------------------------------------

bool IsAbsent(const Napi::Value& v) { return v.IsUndefined() || v.IsNull(); }

std::string OptString(const Napi::Object& o, const char* key, bool required) {
  Napi::Value v = o.Get(key);
  if (IsAbsent(v)) {
    if (required) {
      throw Napi::TypeError::New(o.Env(),
                                 std::string("option '") + key + "' is required");
    }
    return "";
  }
  if (!v.IsString()) {
    throw Napi::TypeError::New(o.Env(),
                               std::string("option '") + key + "' must be a string");
  }
  return v.As<Napi::String>().Utf8Value();
}

double OptNumber(const Napi::Object& o, const char* key, double def, double min,
                 double max) {
  Napi::Value v = o.Get(key);
  if (IsAbsent(v)) return def;
  if (!v.IsNumber()) {
    throw Napi::TypeError::New(o.Env(),
                               std::string("option '") + key + "' must be a number");
  }
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= min && d <= max)) {
    throw Napi::RangeError::New(
        o.Env(), std::string("option '") + key + "' is out of range (" +
                     std::to_string(static_cast<long long>(min)) + ".." +
                     std::to_string(static_cast<long long>(max)) + ")");
  }
  return d;
}

bool OptBool(const Napi::Object& o, const char* key, bool def) {
  Napi::Value v = o.Get(key);
  if (IsAbsent(v)) return def;
  if (!v.IsBoolean()) {
    throw Napi::TypeError::New(o.Env(),
                               std::string("option '") + key + "' must be a boolean");
  }
  return v.As<Napi::Boolean>().Value();
}

// napi_adjust_external_memory that never throws (used in finalizers and
// destructors, which may run while the environment is being torn down).
void AdjustExternal(napi_env env, int64_t delta) {
  int64_t ignored;
  if (env && delta) napi_adjust_external_memory(env, delta, &ignored);
}

// ============================================================================
// OfflineHandle
// ============================================================================

class OfflineHandle : public Napi::ObjectWrap<OfflineHandle> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(
        env, "OfflineHandle",
        {
            InstanceMethod<&OfflineHandle::ReadInto>("readInto"),
            InstanceMethod<&OfflineHandle::Close>("close"),
            InstanceMethod<&OfflineHandle::Stats>("stats"),
            InstanceAccessor<&OfflineHandle::GetLinkType>("linkType"),
            InstanceAccessor<&OfflineHandle::GetSnaplen>("snaplen"),
            InstanceAccessor<&OfflineHandle::GetLastCount>("lastCount"),
            InstanceAccessor<&OfflineHandle::GetClosed>("closed"),
        });
  }

  explicit OfflineHandle(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<OfflineHandle>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) {
      throw Napi::TypeError::New(env, "OfflineHandle(path: string, filter?: string)");
    }
    path_ = info[0].As<Napi::String>().Utf8Value();
    std::string filter;
    if (info.Length() > 1 && !IsAbsent(info[1])) {
      if (!info[1].IsString()) {
        throw Napi::TypeError::New(env, "filter must be a string");
      }
      filter = info[1].As<Napi::String>().Utf8Value();
    }

    char errbuf[PCAP_ERRBUF_SIZE];
    errbuf[0] = '\0';
    if (path_ == "-") {
      p_ = pcap_open_offline_with_tstamp_precision(
          "-", PCAP_TSTAMP_PRECISION_MICRO, errbuf);
      if (!p_) throw Napi::Error::New(env, std::string("stdin: ") + errbuf);
    } else {
      FILE* f = std::fopen(path_.c_str(), "rbe");
      if (!f) {
        throw Napi::Error::New(env, path_ + ": " + std::strerror(errno));
      }
      // A larger stdio buffer than the default st_blksize (4 KiB) cuts the
      // read(2) count; libpcap reads each record with two small freads.
      iobuf_ = static_cast<char*>(std::malloc(kOfflineIoBuffer));
      if (iobuf_) setvbuf(f, iobuf_, _IOFBF, kOfflineIoBuffer);
      // Only this handle's calls, on the JS thread, read the file: stdio's
      // per-call locking (two freads per record) is not needed.
      __fsetlocking(f, FSETLOCKING_BYCALLER);
      p_ = pcap_fopen_offline_with_tstamp_precision(
          f, PCAP_TSTAMP_PRECISION_MICRO, errbuf);
      if (!p_) {
        std::fclose(f);
        std::free(iobuf_);
        iobuf_ = nullptr;
        throw Napi::Error::New(env, path_ + ": " + errbuf);
      }
    }
    if (!filter.empty()) {
      std::string err = InstallFilter(p_, filter, PCAP_NETMASK_UNKNOWN);
      if (!err.empty()) {
        Release();
        throw Napi::Error::New(env, err);
      }
    }
    linkType_ = pcap_datalink(p_);
    snaplen_ = pcap_snapshot(p_);
    external_ = static_cast<int64_t>(kOfflineIoBuffer);
    AdjustExternal(env, external_);
  }

  ~OfflineHandle() override { Release(); }

 private:
  void Release() {
    if (p_) {
      pcap_close(p_);  // also fcloses the FILE
      p_ = nullptr;
    }
    std::free(iobuf_);
    iobuf_ = nullptr;
    havePending_ = false;
    pendingData_ = nullptr;
    if (external_) {
      AdjustExternal(Env(), -external_);
      external_ = 0;
    }
  }

  [[noreturn]] void ThrowTooSmall(Napi::Env env, size_t need, size_t cap) {
    throw Napi::RangeError::New(
        env, "readInto: buffer of " + std::to_string(cap) +
                 " bytes cannot hold the next record (" + std::to_string(need) +
                 " bytes)");
  }

  Napi::Value ReadInto(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!p_) throw Napi::Error::New(env, "OfflineHandle is closed");
    if (info.Length() < 1 || !info[0].IsTypedArray()) {
      throw Napi::TypeError::New(env, "readInto(buf: Buffer|Uint8Array)");
    }
    Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
    if (ta.TypedArrayType() != napi_uint8_array) {
      throw Napi::TypeError::New(env, "readInto: buffer must be a Buffer or Uint8Array");
    }
    Napi::Uint8Array arr = info[0].As<Napi::Uint8Array>();
    uint8_t* out = arr.Data();
    const size_t cap = arr.ByteLength();
    lastCount_ = 0;
    if (!error_.empty()) throw Napi::Error::New(env, error_);

    size_t pos = 0;
    uint32_t n = 0;
    if (havePending_) {
      size_t need = kRecordHeader + pendingHdr_.caplen;
      if (need > cap) ThrowTooSmall(env, need, cap);
      WriteRecord(out, &pendingHdr_, pendingData_);
      havePending_ = false;
      pendingData_ = nullptr;
      pos = need;
      n = 1;
      packets_++;
      bytes_ += pendingHdr_.len;
    }
    while (!eof_) {
      struct pcap_pkthdr* h;
      const u_char* d;
      int r = pcap_next_ex(p_, &h, &d);
      if (r == 1) {
        size_t need = kRecordHeader + h->caplen;
        if (pos + need > cap) {
          // libpcap keeps `d` valid until the next read on this handle.
          pendingHdr_ = *h;
          pendingData_ = d;
          havePending_ = true;
          if (pos == 0) ThrowTooSmall(env, need, cap);
          break;
        }
        WriteRecord(out + pos, h, d);
        pos += need;
        n++;
        packets_++;
        bytes_ += h->len;
      } else if (r == PCAP_ERROR_BREAK) {
        eof_ = true;  // end of file
      } else if (r == 0) {
        break;  // not expected for savefiles
      } else {
        error_ = path_ + ": " + pcap_geterr(p_);
        // Deliver what was read before the error; the error is thrown by
        // the next call (and by every call after that).
        if (pos == 0) throw Napi::Error::New(env, error_);
        break;
      }
    }
    lastCount_ = n;
    return Napi::Number::New(env, static_cast<double>(pos));
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Release();
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("packets", Napi::Number::New(env, static_cast<double>(packets_)));
    o.Set("bytes", Napi::Number::New(env, static_cast<double>(bytes_)));
    return o;
  }

  Napi::Value GetLinkType(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), linkType_);
  }
  Napi::Value GetSnaplen(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), snaplen_);
  }
  Napi::Value GetLastCount(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), lastCount_);
  }
  Napi::Value GetClosed(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), p_ == nullptr);
  }

  std::string path_;
  pcap_t* p_ = nullptr;
  char* iobuf_ = nullptr;
  int linkType_ = 0;
  int snaplen_ = 0;
  bool havePending_ = false;
  struct pcap_pkthdr pendingHdr_ {};
  const u_char* pendingData_ = nullptr;
  bool eof_ = false;
  std::string error_;
  uint32_t lastCount_ = 0;
  uint64_t packets_ = 0;
  uint64_t bytes_ = 0;
  int64_t external_ = 0;
};

// ============================================================================
// LiveHandle
// ============================================================================

// Recycles batch buffers of one fixed capacity between the capture thread
// (which takes them) and Buffer finalizers on the JS thread (which return
// them).  Shared ownership: it outlives the handle while Buffers are alive.
class BufferPool {
 public:
  explicit BufferPool(size_t cap) : cap_(cap) {}
  ~BufferPool() {
    for (uint8_t* b : free_) std::free(b);
  }
  size_t cap() const { return cap_; }
  uint8_t* Get() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        uint8_t* b = free_.back();
        free_.pop_back();
        return b;
      }
    }
    return static_cast<uint8_t*>(std::malloc(cap_));
  }
  void Put(uint8_t* b) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (free_.size() < kMaxFree) {
        free_.push_back(b);
        return;
      }
    }
    std::free(b);
  }

 private:
  static constexpr size_t kMaxFree = 8;
  const size_t cap_;
  std::mutex mu_;
  std::vector<uint8_t*> free_;
};

struct Batch {
  uint8_t* data = nullptr;
  size_t size = 0;
  size_t cap = 0;
  uint32_t count = 0;
  uint64_t wireBytes = 0;
  std::shared_ptr<BufferPool> pool;
};

void FreeBatch(Batch* b) {
  if (!b) return;
  if (b->data) {
    if (b->pool && b->cap == b->pool->cap()) {
      b->pool->Put(b->data);
    } else {
      std::free(b->data);
    }
  }
  delete b;
}

class LiveHandle;
void LiveCallJs(Napi::Env env, Napi::Function cb, LiveHandle* self, Batch* b);
using LiveTsfn = Napi::TypedThreadSafeFunction<LiveHandle, Batch, LiveCallJs>;

class LiveHandle : public Napi::ObjectWrap<LiveHandle> {
 public:
  using Clock = std::chrono::steady_clock;
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(
        env, "LiveHandle",
        {
            InstanceMethod<&LiveHandle::Start>("start"),
            InstanceMethod<&LiveHandle::Close>("close"),
            InstanceMethod<&LiveHandle::Stats>("stats"),
            InstanceMethod<&LiveHandle::Hold>("hold"),
            InstanceAccessor<&LiveHandle::GetLinkType>("linkType"),
            InstanceAccessor<&LiveHandle::GetSnaplen>("snaplen"),
            InstanceAccessor<&LiveHandle::GetWarning>("warning"),
            InstanceAccessor<&LiveHandle::GetDevice>("device"),
            InstanceAccessor<&LiveHandle::GetClosed>("closed"),
        });
  }

  explicit LiveHandle(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<LiveHandle>(info) {
    Napi::Env env = info.Env();
    env_ = env;
    if (info.Length() < 1 || !info[0].IsObject()) {
      throw Napi::TypeError::New(env, "LiveHandle(opts: { device: string, ... })");
    }
    Napi::Object o = info[0].As<Napi::Object>();
    device_ = OptString(o, "device", true);
    std::string filter = OptString(o, "filter", false);
    int snaplen = static_cast<int>(OptNumber(o, "snaplen", 262144, 64, 262144));
    bool promisc = OptBool(o, "promiscuous", false);
    int bufferSize = static_cast<int>(
        OptNumber(o, "bufferSize", 64.0 * 1024 * 1024, 65536, 2047.0 * 1024 * 1024));
    int timeoutMs = static_cast<int>(OptNumber(o, "timeoutMs", 10, 1, 60000));
    timeoutMs_ = timeoutMs;
    bool immediate = OptBool(o, "immediate", false);
    // Inbound only: on loopback the kernel shows every packet twice (sent and received) and
    // libpcap drops the sent copy only after the kernel has filtered and copied it into the
    // ring.  PCAP_D_IN makes the kernel skip sent packets (PACKET_IGNORE_OUTGOING).
    bool inboundOnly = OptBool(o, "inboundOnly", false);
    double batchBytes = OptNumber(o, "batchBytes", 1024.0 * 1024, 4096, 1024.0 * 1024 * 1024);
    double maxQueued = OptNumber(o, "maxQueuedBytes", 256.0 * 1024 * 1024, 0,
                                 64.0 * 1024 * 1024 * 1024);
    // Batches smaller than this are delivered as copies, larger ones as
    // external Buffers (see Deliver).  Default: always copy.
    copyBelow_ = OptNumber(o, "copyBelowBytes", -1, -1, 1e15);

    char errbuf[PCAP_ERRBUF_SIZE];
    errbuf[0] = '\0';
    pcap_t* p = pcap_create(device_.c_str(), errbuf);
    if (!p) {
      throw Napi::Error::New(env, "cannot capture on \"" + device_ + "\": " + errbuf);
    }
    int rc = 0;
    if ((rc = pcap_set_snaplen(p, snaplen)) != 0 ||
        (rc = pcap_set_promisc(p, promisc ? 1 : 0)) != 0 ||
        (rc = pcap_set_timeout(p, timeoutMs)) != 0 ||
        (rc = pcap_set_buffer_size(p, bufferSize)) != 0 ||
        (rc = pcap_set_immediate_mode(p, immediate ? 1 : 0)) != 0) {
      std::string msg = "cannot configure capture on \"" + device_ + "\": " +
                        pcap_statustostr(rc);
      pcap_close(p);
      throw Napi::Error::New(env, msg);
    }
    // Best effort: microsecond timestamps are the default anyway.
    pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_MICRO);

    rc = pcap_activate(p);
    if (rc < 0) {
      std::string status = pcap_statustostr(rc);
      std::string detail = pcap_geterr(p);
      std::string msg = "cannot capture on \"" + device_ + "\": " + status;
      if (!detail.empty() && detail != status) msg += " (" + detail + ")";
      if (rc == PCAP_ERROR_PERM_DENIED) {
        msg += "; live capture needs root or CAP_NET_RAW";
      }
      pcap_close(p);
      throw Napi::Error::New(env, msg);
    }
    if (inboundOnly) {
      if (pcap_setdirection(p, PCAP_D_IN) != 0) {
        std::string msg = "cannot capture on \"" + device_ + "\": setting the direction failed (" + pcap_geterr(p) + ")";
        pcap_close(p);
        throw Napi::Error::New(env, msg);
      }
      // libpcap 1.10 applies the direction after the copy; the kernel (4.20+) can skip sent
      // packets itself.  Best effort: without it, libpcap still discards them.
      int one = 1;
      (void)setsockopt(pcap_fileno(p), SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
    }
    if (rc > 0) {
      std::string detail = pcap_geterr(p);
      warning_ = pcap_statustostr(rc);
      if (!detail.empty() && detail != warning_) warning_ += " (" + detail + ")";
    }
    p_ = p;
    if (!filter.empty()) {
      bpf_u_int32 net = 0, mask = 0;
      if (pcap_lookupnet(device_.c_str(), &net, &mask, errbuf) != 0) {
        mask = PCAP_NETMASK_UNKNOWN;
      }
      std::string err = InstallFilter(p_, filter, mask);
      if (!err.empty()) {
        pcap_close(p_);
        p_ = nullptr;
        throw Napi::Error::New(env, err);
      }
    }
    linkType_ = pcap_datalink(p_);
    snaplen_ = pcap_snapshot(p_);
    batchBytes_ = static_cast<size_t>(batchBytes);
    if (batchBytes_ < kRecordHeader + static_cast<size_t>(snaplen_)) {
      batchBytes_ = kRecordHeader + static_cast<size_t>(snaplen_);
    }
    if (copyBelow_ < 0) copyBelow_ = 1e300;  // default: always copy (measured best)
    maxQueued_ = static_cast<uint64_t>(maxQueued);
    if (maxQueued_ < batchBytes_) maxQueued_ = batchBytes_;
    pool_ = std::make_shared<BufferPool>(batchBytes_);

    // The kernel ring is memory this object holds; let the GC know so an
    // unreferenced, unclosed handle gets collected.
    external_ = bufferSize;
    AdjustExternal(env, external_);
    AddHook();
  }

  ~LiveHandle() override {
    Shutdown();
    RemoveHook();
    AdjustExternal(env_, -external_);
    external_ = 0;
  }

  // ---- called on the JS thread by the thread-safe function ---------------

  // Uses the C API with status checks only: it runs inside a TSFN callback,
  // and while a worker is being terminated every N-API call may fail (and
  // node-addon-api's error path is itself fatal when the environment cannot
  // create objects any more).
  void Deliver(napi_env env, napi_value cb, Batch* b) {
    queuedBytes_.fetch_sub(b->cap, std::memory_order_relaxed);
    if (holding_.load()) Wake();  // seq_cst, as the store: no wake-up lost
    const uint32_t count = b->count;
    napi_value buf = nullptr;
    // Copy (default): the pooled batch memory goes straight back to the
    // capture thread and V8 accounts exactly for what JS holds.  External
    // Buffers avoid the memcpy on the JS thread but cost more overall: in
    // bench/capture.ts at ~1 GB/s of loopback traffic, external delivery used
    // 2.4 s of main-thread CPU and 449 MiB peak RSS against 1.4 s and 201 MiB
    // for copies (finalizers, GC pressure, 1 MiB held per Buffer).
    if (static_cast<double>(b->size) < copyBelow_) {
      void* ignored;
      napi_status st = napi_create_buffer_copy(env, b->size, b->data, &ignored, &buf);
      FreeBatch(b);
      if (st != napi_ok) return;  // environment going away: drop the batch
    } else {
      // V8 accounts for `size` bytes; tell it about the unused tail too so
      // that collection keeps pace with the real footprint.
      const int64_t slack = static_cast<int64_t>(b->cap - b->size);
      AdjustExternal(env, slack);
      napi_status st = napi_create_external_buffer(
          env, b->size, b->data,
          [](napi_env fenv, void*, void* hint) {
            Batch* batch = static_cast<Batch*>(hint);
            const int64_t tail = static_cast<int64_t>(batch->cap - batch->size);
            FreeBatch(batch);
            AdjustExternal(fenv, -tail);
          },
          b, &buf);
      if (st != napi_ok) {
        AdjustExternal(env, -slack);
        if (st == napi_no_external_buffers_allowed) {
          void* ignored;
          st = napi_create_buffer_copy(env, b->size, b->data, &ignored, &buf);
        }
        FreeBatch(b);
        if (st != napi_ok) return;
      }
    }
    napi_value argv[2];
    napi_value recv;
    if (napi_create_uint32(env, count, &argv[1]) != napi_ok ||
        napi_get_undefined(env, &recv) != napi_ok) {
      return;
    }
    argv[0] = buf;
    CallReportingErrors(env, recv, cb, 2, argv);
  }

  // Calls fn; an exception it throws becomes an uncaught exception (like an
  // event listener that throws).  Failures to call (terminating) are ignored.
  static void CallReportingErrors(napi_env env, napi_value recv, napi_value fn,
                                  size_t argc, const napi_value* argv) {
    napi_value result;
    if (napi_call_function(env, recv, fn, argc, argv, &result) == napi_ok) return;
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
      napi_value exc;
      if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) {
        napi_fatal_exception(env, exc);
      }
    }
  }

 private:
  // ---- environment teardown ----------------------------------------------

  static void CleanupHook(void* arg) {
    LiveHandle* self = static_cast<LiveHandle*>(arg);
    self->hookAdded_ = false;  // node removes it after running it
    self->tearingDown_ = true;
    self->Shutdown();
  }
  void AddHook() {
    if (napi_add_env_cleanup_hook(env_, CleanupHook, this) == napi_ok) {
      hookAdded_ = true;
    }
  }
  void RemoveHook() {
    if (hookAdded_) {
      napi_remove_env_cleanup_hook(env_, CleanupHook, this);
      hookAdded_ = false;
    }
  }

  // Stops and joins the capture thread (if any) and closes the pcap handle.
  // Idempotent.  Runs on the JS thread.  With a thread running this is
  // teardown (environment cleanup, or a destructor that only runs then): the
  // thread skips its final drain, as nothing could be delivered any more.
  void Shutdown() {
    if (thread_.joinable()) {
      abandon_.store(true, std::memory_order_relaxed);
      RequestStop();
      thread_.join();
    }
    CloseHandle();
  }

  // Asks the capture thread to stop, never waiting for it.  Our eventfd
  // wakes its poll(); pcap_breakloop is not used at all (libpcap closes and
  // reopens its own wake-up fd in pcap_setnonblock, racing a breakloop).
  void RequestStop() {
    stop_.store(true, std::memory_order_relaxed);
    Wake();
  }

  void Wake() {
    if (wakeFd_ < 0) return;
    const uint64_t one = 1;
    ssize_t n;
    do {
      n = write(wakeFd_, &one, sizeof one);
    } while (n < 0 && errno == EINTR);
    // EAGAIN: the counter is saturated, the thread is woken anyway.
  }

  // JS thread, once no capture thread runs: final kernel figures for stats(),
  // then the pcap handle (unless the thread closed it) and the wake-up fd are
  // released.
  void CloseHandle() {
    if (p_) {
      ClosePcap();
      p_ = nullptr;
    }
    if (wakeFd_ >= 0) {
      close(wakeFd_);
      wakeFd_ = -1;
    }
  }

  // ---- JS methods ----------------------------------------------------------

  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!p_ || closing_) throw Napi::Error::New(env, "LiveHandle is closed");
    if (started_) throw Napi::Error::New(env, "LiveHandle already started");
    if (info.Length() < 1 || !info[0].IsFunction()) {
      throw Napi::TypeError::New(
          env, "start(onBatch: (batch, count) => void, onEnd?: (err?) => void)");
    }
    const bool hasOnEnd = info.Length() > 1 && !IsAbsent(info[1]);
    if (hasOnEnd && !info[1].IsFunction()) {
      throw Napi::TypeError::New(env, "onEnd must be a function");
    }
    // The capture thread polls the pcap fd and an eventfd of ours (the stop
    // signal) itself; pcap_dispatch only reads what is ready.
    char nbErr[PCAP_ERRBUF_SIZE];
    nbErr[0] = '\0';
    if (pcap_get_selectable_fd(p_) < 0 || pcap_setnonblock(p_, 1, nbErr) != 0) {
      throw Napi::Error::New(env, "cannot poll capture on \"" + device_ + "\": " + nbErr);
    }
    if (wakeFd_ < 0) wakeFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wakeFd_ < 0) {
      throw Napi::Error::New(env, std::string("eventfd: ") + std::strerror(errno));
    }
    // Keep this object (and onEnd) alive while the thread and the TSFN use
    // them; both references are deleted by OnTsfnFinalize.
    NAPI_THROW_IF_FAILED(env, napi_create_reference(env, info.This(), 1, &selfRef_),
                         env.Undefined());
    if (hasOnEnd && napi_create_reference(env, info[1], 1, &onEnd_) != napi_ok) {
      onEnd_ = nullptr;
      DropStartRefs(env);
      throw Napi::Error::New(env, "cannot reference onEnd");
    }
    try {
      tsfn_ = LiveTsfn::New(
          env, info[0].As<Napi::Function>(), "shadowtap.capture", 0, 1, this,
          [](Napi::Env env, void*, LiveHandle* self) { self->OnTsfnFinalize(env); });
    } catch (...) {
      DropStartRefs(env);
      throw;
    }
    started_ = true;
    // Re-register the cleanup hook so that it runs before the TSFN's own
    // (hooks run in reverse order of registration).
    RemoveHook();
    AddHook();
    stop_.store(false, std::memory_order_relaxed);
    try {
      thread_ = std::thread(&LiveHandle::ThreadMain, this);
    } catch (const std::exception& e) {
      const std::string why = std::string("cannot start capture thread: ") + e.what();
      {
        std::lock_guard<std::mutex> lock(statsMu_);
        threadError_ = why;  // onEnd (from the TSFN's finalizer) reports it too
      }
      tsfn_.Release();
      throw Napi::Error::New(env, why);
    }
    return env.Undefined();
  }

  void DropStartRefs(napi_env env) {
    if (onEnd_) napi_delete_reference(env, onEnd_);
    if (selfRef_) napi_delete_reference(env, selfRef_);
    onEnd_ = nullptr;
    selfRef_ = nullptr;
  }

  // Never blocks: a running capture thread is only asked to stop.  It drains
  // what the kernel already took, releases the TSFN, and OnTsfnFinalize joins
  // it, closes the pcap handle and calls onEnd.  Safe from inside onBatch.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (thread_.joinable()) {
      closing_ = true;
      RequestStop();
    } else {
      Shutdown();
    }
    return info.Env().Undefined();
  }

  // hold(true): JS has more waiting than it wants; packets stay in the ring
  // until hold(false).
  Napi::Value Hold(const Napi::CallbackInfo& info) {
    const bool hold = info.Length() > 0 && info[0].ToBoolean().Value();
    heldByJs_.store(hold, std::memory_order_relaxed);
    if (!hold) Wake();
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    // Fresh kernel figures on every read (pcap_stats only touches the socket's
    // counters, safe beside the capture thread's pcap_dispatch).
    if (p_) RefreshKernelStats();
    uint64_t recv, drop, ifdrop;
    {
      std::lock_guard<std::mutex> lock(statsMu_);
      recv = kRecv_;
      drop = kDrop_;
      ifdrop = kIfDrop_;
    }
    Napi::Object o = Napi::Object::New(env);
    auto num = [&](uint64_t v) { return Napi::Number::New(env, static_cast<double>(v)); };
    o.Set("packets", num(packets_.load(std::memory_order_relaxed)));
    o.Set("bytes", num(bytes_.load(std::memory_order_relaxed)));
    o.Set("queueDropped", num(queueDropped_.load(std::memory_order_relaxed)));
    o.Set("kernelReceived", num(recv));
    o.Set("kernelDropped", num(drop));
    o.Set("ifDropped", num(ifdrop));
    o.Set("batches", num(batches_.load(std::memory_order_relaxed)));
    o.Set("queuedBytes", num(queuedBytes_.load(std::memory_order_relaxed)));
    o.Set("holds", num(holds_.load(std::memory_order_relaxed)));
    return o;
  }

  Napi::Value GetLinkType(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), linkType_);
  }
  Napi::Value GetSnaplen(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), snaplen_);
  }
  Napi::Value GetWarning(const Napi::CallbackInfo& info) {
    if (warning_.empty()) return info.Env().Undefined();
    return Napi::String::New(info.Env(), warning_);
  }
  Napi::Value GetDevice(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), device_);
  }
  Napi::Value GetClosed(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), p_ == nullptr || closing_);
  }

  // Runs on the JS thread once the capture thread has released the TSFN and
  // every queued batch has been delivered (or, at teardown, discarded).
  // C API only, for the same reason as Deliver.
  void OnTsfnFinalize(napi_env env) {
    // Releasing the TSFN is the thread's last act: this join is immediate.
    if (thread_.joinable()) thread_.join();
    CloseHandle();
    std::string err;
    {
      std::lock_guard<std::mutex> lock(statsMu_);
      err = threadError_;
    }
    napi_ref onEnd = onEnd_;
    onEnd_ = nullptr;
    if (onEnd) {
      napi_handle_scope scope;
      if (!tearingDown_ && napi_open_handle_scope(env, &scope) == napi_ok) {
        napi_value fn, recv, argv[1];
        size_t argc = 0;
        bool ok = napi_get_reference_value(env, onEnd, &fn) == napi_ok && fn &&
                  napi_get_undefined(env, &recv) == napi_ok;
        if (ok && !err.empty()) {
          napi_value msg;
          ok = napi_create_string_utf8(env, err.c_str(), err.size(), &msg) == napi_ok &&
               napi_create_error(env, nullptr, msg, &argv[0]) == napi_ok;
          argc = 1;
        }
        if (ok) CallReportingErrors(env, recv, fn, argc, argv);
        napi_close_handle_scope(env, scope);
      }
      napi_delete_reference(env, onEnd);
    }
    if (selfRef_) {
      napi_delete_reference(env, selfRef_);  // the object may be collected now
      selfRef_ = nullptr;
    }
  }

  // ---- capture thread ------------------------------------------------------

  // Either thread.  pcap_stats calls are serialized by statsMu_ (libpcap
  // accumulates into the handle; the kernel resets its counters on each read).
  void RefreshKernelStats() {
    std::lock_guard<std::mutex> lock(statsMu_);
    RefreshKernelStatsLocked();
  }

  void RefreshKernelStatsLocked() {
    struct pcap_stat st;
    if (!p_ || pcapClosed_ || pcap_stats(p_, &st) != 0) return;
    // libpcap's counters are 32-bit; accumulate deltas into 64 bits.
    const uint32_t dRecv = static_cast<uint32_t>(st.ps_recv - lastRaw_.ps_recv);
    kRecv_ += dRecv;
    kDrop_ += static_cast<uint32_t>(st.ps_drop - lastRaw_.ps_drop);
    kIfDrop_ += static_cast<uint32_t>(st.ps_ifdrop - lastRaw_.ps_ifdrop);
    lastRaw_ = st;
    if (dRecv) recvSeenAt_ = Clock::now();
  }

  // How long after the kernel took a packet its ring block may still be held
  // back: it is retired on the second tick of the block timer (one tick is the
  // timeout, rounded up to jiffies, with up to 1/8 slack for long timers).
  std::chrono::milliseconds RetireBound() const {
    return std::chrono::milliseconds(2 * (timeoutMs_ + timeoutMs_ / 8) + 40);
  }

  // Waits until the pcap fd is readable, the wake-up eventfd was written, or
  // waitMs passed (-1: no limit).  False on a poll error (err set).
  bool WaitReadable(int pcapFd, int waitMs, std::string* err, bool pcapToo = true) {
    // libpcap needs short polls while it checks whether a downed interface
    // went away (ENETDOWN).
    const struct timeval* req = pcap_get_required_select_timeout(p_);
    if (req) {
      int reqMs = static_cast<int>(req->tv_sec * 1000 + (req->tv_usec + 999) / 1000);
      if (reqMs < 1) reqMs = 1;
      if (waitMs < 0 || reqMs < waitMs) waitMs = reqMs;
    }
    struct pollfd fds[2];
    fds[0].fd = pcapToo ? pcapFd : -1;  // a negative fd is left out by poll()
    fds[0].events = POLLIN;
    fds[0].revents = 0;
    fds[1].fd = wakeFd_;
    fds[1].events = POLLIN;
    fds[1].revents = 0;
    int n = poll(fds, 2, waitMs);
    if (n < 0) {
      if (errno == EINTR) return true;
      *err = "capture on \"" + device_ + "\" failed: poll: " + std::strerror(errno);
      return false;
    }
    if (fds[1].revents & POLLIN) {
      uint64_t v;
      (void)!read(wakeFd_, &v, sizeof v);  // reset the counter (non-blocking)
    }
    // POLLERR/POLLHUP on the pcap fd: the next pcap_dispatch reports them.
    return true;
  }

  static int MsUntil(Clock::time_point t) {
    auto d = std::chrono::duration_cast<std::chrono::microseconds>(t - Clock::now()).count();
    if (d <= 0) return 0;
    return static_cast<int>((d + 999) / 1000);
  }

  void ThreadMain() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    pthread_setname_np(pthread_self(), "shadowtap-cap");

    const int pcapFd = pcap_get_selectable_fd(p_);
    auto lastStats = Clock::now();
    bool dirty = false;  // packets read since the kernel counters were refreshed
    std::string err;
    while (!stop_.load(std::memory_order_relaxed)) {
      if (HoldBack()) {
        // JS is behind: what the kernel takes waits in its ring until a
        // delivery (or hold(false)) makes room.
        if (cur_ && cur_->count && HasRoom(cur_->cap)) Flush();
        holding_.store(true);
        holds_.fetch_add(1, std::memory_order_relaxed);
        while (HoldBack() && !stop_.load(std::memory_order_relaxed)) {
          if (!WaitReadable(pcapFd, 100, &err, false)) break;
          RefreshKernelStats();
        }
        holding_.store(false, std::memory_order_relaxed);
        if (!err.empty()) break;
        continue;
      }
      // Non-blocking: reads every block the kernel has handed over, or up to
      // the packet that filled the queue (OnPacket breaks the loop there).
      int r = pcap_dispatch(p_, -1, &LiveHandle::OnPacket, reinterpret_cast<u_char*>(this));
      if (r == PCAP_ERROR) {
        err = "capture on \"" + device_ + "\" failed: " + pcap_geterr(p_);
        break;
      }
      if (r == PCAP_ERROR_BREAK) {
        dirty = true;
        continue;
      }
      if (r > 0) dirty = true;
      if (cur_ && cur_->count) Flush();  // timeout / end-of-block flush
      // Kernel counters: every 100 ms while busy, and when going idle (at most
      // every 10 ms), so that a burst's last drops show without more traffic.
      auto now = Clock::now();
      if (dirty && now - lastStats >= std::chrono::milliseconds(r > 0 ? 100 : 10)) {
        RefreshKernelStats();
        lastStats = now;
        dirty = false;
      }
      if (r > 0) continue;
      const int waitMs = dirty ? MsUntil(lastStats + std::chrono::milliseconds(10)) : -1;
      if (!WaitReadable(pcapFd, waitMs, &err)) break;
    }
    // Stopping: packets the kernel took may still sit in a ring block it has
    // not handed over yet; it does so within RetireBound() of the last one, so
    // read until then (not at all when the kernel has taken nothing for that
    // long, e.g. an idle capture).  Skipped at teardown (nothing is delivered).
    if (err.empty() && !abandon_.load(std::memory_order_relaxed)) {
      RefreshKernelStats();
      Clock::time_point until;
      {
        std::lock_guard<std::mutex> lock(statsMu_);
        until = recvSeenAt_ + RetireBound();
      }
      std::string ignored;
      while (!abandon_.load(std::memory_order_relaxed)) {
        int r = pcap_dispatch(p_, -1, &LiveHandle::OnPacket, reinterpret_cast<u_char*>(this));
        if (r == PCAP_ERROR) break;
        if (r > 0) continue;
        const int waitMs = MsUntil(until);
        if (waitMs <= 0) break;
        if (!WaitReadable(pcapFd, waitMs, &ignored)) break;
      }
    }
    if (cur_ && cur_->count) Flush();
    FreeBatch(cur_);
    cur_ = nullptr;
    // Here rather than on the JS thread: closing a ring socket waits for an
    // RCU grace period (~20 ms).
    ClosePcap();
    {
      std::lock_guard<std::mutex> lock(statsMu_);
      threadError_ = err;
    }
    tsfn_.Release();
  }

  // Final kernel figures, then pcap_close.  Once only, from either thread.
  void ClosePcap() {
    std::lock_guard<std::mutex> lock(statsMu_);
    if (!p_ || pcapClosed_) return;
    RefreshKernelStatsLocked();
    pcap_close(p_);
    pcapClosed_ = true;
  }

  static void OnPacket(u_char* user, const struct pcap_pkthdr* h,
                       const u_char* bytes) {
    LiveHandle* self = reinterpret_cast<LiveHandle*>(user);
    const size_t need = kRecordHeader + h->caplen;
    Batch* b = self->cur_;
    if (b && b->size + need > b->cap) {
      self->Flush();
      b = self->cur_;  // a dropped batch is kept for reuse
      if (b && b->size + need > b->cap) b = nullptr;
    }
    if (!b) {
      b = self->NewBatch(need);
      if (!b) {  // out of memory: count as dropped rather than crash
        self->queueDropped_.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      self->cur_ = b;
    }
    WriteRecord(b->data + b->size, h, bytes);
    b->size += need;
    b->count++;
    b->wireBytes += h->len;
    if (b->size + kRecordHeader >= b->cap) self->Flush();
    // The rest of the ring waits (pcap_dispatch resumes mid-block); not
    // while stopping, when what the kernel took is read out.
    if (self->HoldBack() && !self->stop_.load(std::memory_order_relaxed)) pcap_breakloop(self->p_);
  }

  // Whether a batch holding `cap` bytes may be queued now.
  bool HasRoom(size_t cap) const {
    const uint64_t queued = queuedBytes_.load(std::memory_order_relaxed);
    return queued == 0 || queued + cap <= maxQueued_;
  }

  // Whether the capture thread leaves packets in the ring for now.
  bool HoldBack() const {
    return heldByJs_.load(std::memory_order_relaxed) || !HasRoom(batchBytes_);
  }

  Batch* NewBatch(size_t need) {
    Batch* b = new (std::nothrow) Batch();
    if (!b) return nullptr;
    if (need <= pool_->cap()) {
      b->data = pool_->Get();
      b->cap = pool_->cap();
      b->pool = pool_;
    } else {
      b->data = static_cast<uint8_t*>(std::malloc(need));
      b->cap = need;
    }
    if (!b->data) {
      delete b;
      return nullptr;
    }
    return b;
  }

  // Hands the current batch to JS without ever blocking.  The queue's limit
  // counts the memory each queued batch holds (its whole buffer), not the
  // packet bytes in it: a stalled JS thread with small batches must not pin
  // buffer after buffer.  Reading stops once a full batch no longer fits
  // (HoldBack), so the queue passes its limit by the batch being filled at
  // most; beyond that (only while stopping) a batch is dropped and counted.
  // A batch using under a quarter of its pool buffer (most, at a low packet
  // rate) is moved to an allocation of its own size first, so that it holds
  // no more than it carries.
  void Flush() {
    Batch* b = cur_;
    if (!b || b->count == 0) return;
    if (b->pool && b->size < b->cap / 4) {
      uint8_t* exact = static_cast<uint8_t*>(std::malloc(b->size));
      if (exact) {
        std::memcpy(exact, b->data, b->size);
        b->pool->Put(b->data);
        b->pool.reset();
        b->data = exact;
        b->cap = b->size;
      }
    }
    if (queuedBytes_.load(std::memory_order_relaxed) + b->cap > maxQueued_ + batchBytes_) {
      queueDropped_.fetch_add(b->count, std::memory_order_relaxed);
      b->size = 0;
      b->count = 0;
      b->wireBytes = 0;
      return;  // keep cur_ for reuse
    }
    cur_ = nullptr;
    const uint32_t count = b->count;
    const uint64_t wire = b->wireBytes;
    const size_t held = b->cap;
    queuedBytes_.fetch_add(held, std::memory_order_relaxed);
    packets_.fetch_add(count, std::memory_order_relaxed);
    bytes_.fetch_add(wire, std::memory_order_relaxed);
    batches_.fetch_add(1, std::memory_order_relaxed);
    if (tsfn_.NonBlockingCall(b) != napi_ok) {  // closing (env teardown)
      queuedBytes_.fetch_sub(held, std::memory_order_relaxed);
      packets_.fetch_sub(count, std::memory_order_relaxed);
      bytes_.fetch_sub(wire, std::memory_order_relaxed);
      batches_.fetch_sub(1, std::memory_order_relaxed);
      queueDropped_.fetch_add(count, std::memory_order_relaxed);
      FreeBatch(b);
    }
  }

  napi_env env_ = nullptr;
  std::string device_;
  int timeoutMs_ = 10;
  pcap_t* p_ = nullptr;
  int linkType_ = 0;
  int snaplen_ = 0;
  size_t batchBytes_ = 0;
  uint64_t maxQueued_ = 0;
  double copyBelow_ = -1;
  std::string warning_;
  int64_t external_ = 0;
  bool hookAdded_ = false;
  bool tearingDown_ = false;

  bool started_ = false;
  bool closing_ = false;  // close() asked the running thread to stop
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> abandon_{false};  // teardown: stop without the final drain
  std::atomic<bool> heldByJs_{false};  // hold(): JS has enough waiting
  std::atomic<bool> holding_{false};   // the thread waits for room (Deliver wakes it)
  std::atomic<uint64_t> holds_{0};     // times it left packets in the ring
  int wakeFd_ = -1;                   // eventfd: wakes the capture thread's poll
  LiveTsfn tsfn_;
  napi_ref onEnd_ = nullptr;
  napi_ref selfRef_ = nullptr;
  std::shared_ptr<BufferPool> pool_;
  Batch* cur_ = nullptr;  // capture thread only

  std::atomic<uint64_t> packets_{0};
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> queueDropped_{0};
  std::atomic<uint64_t> batches_{0};
  std::atomic<uint64_t> queuedBytes_{0};

  std::mutex statsMu_;
  uint64_t kRecv_ = 0, kDrop_ = 0, kIfDrop_ = 0;
  struct pcap_stat lastRaw_ {};
  // When a refresh first saw the kernel's receive count at its current value:
  // no packet was taken since.  The initial count, 0, means none ever was.
  Clock::time_point recvSeenAt_{};
  bool pcapClosed_ = false;  // by the capture thread at its end (p_ stays set)
  std::string threadError_;
};

void LiveCallJs(Napi::Env env, Napi::Function cb, LiveHandle* self, Batch* b) {
  if (!b) return;
  if (env == nullptr || cb.IsEmpty()) {
    // The TSFN is being torn down: drop the batch, don't touch `self`.
    FreeBatch(b);
    return;
  }
  self->Deliver(env, cb, b);
}

// ============================================================================
// Free functions
// ============================================================================

Napi::Value LibVersion(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), pcap_lib_version());
}

Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  static std::once_flag once;
  std::call_once(once, [] {
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_init(PCAP_CHAR_ENC_UTF_8, errbuf);  // best effort
  });
  exports.Set("OfflineHandle", OfflineHandle::Init(env));
  exports.Set("LiveHandle", LiveHandle::Init(env));
  exports.Set("libVersion", Napi::Function::New(env, LibVersion, "libVersion"));
  exports.Set("sdNotify", Napi::Function::New(env, shadowtap::SdNotify, "sdNotify"));
  exports.Set("RECORD_HEADER_BYTES", Napi::Number::New(env, kRecordHeader));
  return exports;
}

}  // namespace

NODE_API_MODULE(shadowtap_pcap, InitModule)
