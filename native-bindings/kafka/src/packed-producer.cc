// A producer of Riptide's own (librdkafka's C API, the library node-rdkafka loaded) whose
// delivery reports never become JS objects.
//
// node-rdkafka turns every delivery report into an object built property by property, with a
// Buffer for the key and the opaque kept in a persistent handle: on outputs, 5-7 us of the main
// thread per message (bench/io/kafka-sink.bench.ts). Here each message's opaque is its sequence
// number itself, and the report callback, run by rd_kafka_poll on the calling thread, appends
// (sequence, error code, partition, offset) to a vector that poll() copies into the caller's
// Float64Array.
//
//   new PackedProducer(conf: string[])   conf as [key, value, key, value, …]; throws on a bad one
//   produce(topic, partition, data, meta, from, count) → enqueued (produce.cc's layout; the
//                                         opaque is the report's sequence number, -1: 0)
//   poll(out: Float64Array) → reports written, REPORT_STRIDE numbers each; serves librdkafka's
//                                         callbacks first (reports, errors)
//   pending() → reports not yet handed out plus messages librdkafka still holds (rd_kafka_outq_len)
//   errors() → [code, message, fatal, …] of the client errors since the last call
//   close(timeoutMs)                      flushes, then destroys the client (idempotent)
//   errString(code)                       (module function) librdkafka's text for an error code
//
// Logging is off (librdkafka would print to stderr, the run's JSON log stream); client errors
// come through errors(). Main thread only.
#include <nan.h>

#include <string>
#include <vector>

#include "handle.h"

namespace riptide {

namespace {

constexpr int REPORT_STRIDE = 4;

struct Report {
  double seq, err, partition, offset;
};

struct ClientError {
  int code;
  std::string message;
  bool fatal;
};

class PackedProducer : public Nan::ObjectWrap {
 public:
  static NAN_MODULE_INIT(Init) {
    v8::Local<v8::FunctionTemplate> t = Nan::New<v8::FunctionTemplate>(New);
    t->SetClassName(Nan::New("PackedProducer").ToLocalChecked());
    t->InstanceTemplate()->SetInternalFieldCount(1);
    Nan::SetPrototypeMethod(t, "produce", Produce);
    Nan::SetPrototypeMethod(t, "poll", Poll);
    Nan::SetPrototypeMethod(t, "pending", Pending);
    Nan::SetPrototypeMethod(t, "errors", Errors);
    Nan::SetPrototypeMethod(t, "close", Close);
    Nan::Set(target, Nan::New("PackedProducer").ToLocalChecked(), Nan::GetFunction(t).ToLocalChecked());
    Nan::Set(target, Nan::New("REPORT_STRIDE").ToLocalChecked(), Nan::New(REPORT_STRIDE));
  }

 private:
  rd_kafka_t* rk_ = nullptr;
  std::vector<Report> reports_;
  size_t handed_ = 0;  // reports_[0, handed_) already copied out
  std::vector<ClientError> errors_;

  ~PackedProducer() override { Destroy(0); }

  void Destroy(int timeoutMs) {
    if (rk_ == nullptr) return;
    if (timeoutMs > 0) rd_kafka_flush(rk_, timeoutMs);
    rd_kafka_destroy(rk_);
    rk_ = nullptr;
  }

  static void OnReport(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<PackedProducer*>(opaque);
    self->reports_.push_back({static_cast<double>(reinterpret_cast<uintptr_t>(m->_private)), static_cast<double>(m->err),
                              static_cast<double>(m->partition), static_cast<double>(m->offset)});
  }

  static void OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    auto* self = static_cast<PackedProducer*>(opaque);
    bool fatal = false;
    std::string message = reason == nullptr ? "" : reason;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      char buf[512];
      rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof buf);
      fatal = true;
      err = orig;
      message = buf;
    }
    if (self->errors_.size() < 1000) self->errors_.push_back({err, message, fatal});
  }

  static NAN_METHOD(New) {
    if (!info.IsConstructCall()) {
      Nan::ThrowTypeError("PackedProducer: use new");
      return;
    }
    if (info.Length() < 1 || !info[0]->IsArray()) {
      Nan::ThrowTypeError("new PackedProducer(conf: string[])");
      return;
    }
    v8::Local<v8::Array> pairs = info[0].As<v8::Array>();
    auto* self = new PackedProducer();
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char errstr[512];
    for (uint32_t i = 0; i + 1 < pairs->Length(); i += 2) {
      Nan::Utf8String key(Nan::Get(pairs, i).ToLocalChecked());
      Nan::Utf8String value(Nan::Get(pairs, i + 1).ToLocalChecked());
      if (rd_kafka_conf_set(conf, *key, *value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        delete self;
        Nan::ThrowError((std::string("PackedProducer: ") + errstr).c_str());
        return;
      }
    }
    rd_kafka_conf_set_opaque(conf, self);
    rd_kafka_conf_set_dr_msg_cb(conf, OnReport);
    rd_kafka_conf_set_error_cb(conf, OnError);
    rd_kafka_conf_set_log_cb(conf, nullptr);
    self->rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);  // owns conf on success
    if (self->rk_ == nullptr) {
      rd_kafka_conf_destroy(conf);
      delete self;
      Nan::ThrowError((std::string("PackedProducer: ") + errstr).c_str());
      return;
    }
    self->Wrap(info.This());
    info.GetReturnValue().Set(info.This());
  }

  static PackedProducer* Open(const Nan::FunctionCallbackInfo<v8::Value>& info) {
    auto* self = Nan::ObjectWrap::Unwrap<PackedProducer>(info.Holder());
    if (self->rk_ == nullptr) {
      Nan::ThrowError("PackedProducer: closed");
      return nullptr;
    }
    return self;
  }

  static NAN_METHOD(Produce) {
    PackedProducer* self = Open(info);
    if (self != nullptr) EnqueuePacked(info, self->rk_, 0, true);
  }

  static NAN_METHOD(Poll) {
    PackedProducer* self = Open(info);
    if (self == nullptr) return;
    if (info.Length() < 1 || !info[0]->IsFloat64Array()) {
      Nan::ThrowTypeError("poll(out: Float64Array)");
      return;
    }
    rd_kafka_poll(self->rk_, 0);
    v8::Local<v8::Float64Array> arr = info[0].As<v8::Float64Array>();
    double* out = reinterpret_cast<double*>(static_cast<char*>(arr->Buffer()->GetBackingStore()->Data()) + arr->ByteOffset());
    const size_t room = arr->Length() / REPORT_STRIDE;
    size_t n = 0;
    for (; n < room && self->handed_ < self->reports_.size(); n++, self->handed_++) {
      const Report& r = self->reports_[self->handed_];
      out[n * REPORT_STRIDE] = r.seq;
      out[n * REPORT_STRIDE + 1] = r.err;
      out[n * REPORT_STRIDE + 2] = r.partition;
      out[n * REPORT_STRIDE + 3] = r.offset;
    }
    if (self->handed_ == self->reports_.size()) {
      self->reports_.clear();
      self->handed_ = 0;
    }
    info.GetReturnValue().Set(Nan::New(static_cast<double>(n)));
  }

  static NAN_METHOD(Pending) {
    PackedProducer* self = Open(info);
    if (self == nullptr) return;
    const double held = static_cast<double>(self->reports_.size() - self->handed_);
    info.GetReturnValue().Set(Nan::New(held + rd_kafka_outq_len(self->rk_)));
  }

  static NAN_METHOD(Errors) {
    auto* self = Nan::ObjectWrap::Unwrap<PackedProducer>(info.Holder());
    v8::Local<v8::Array> out = Nan::New<v8::Array>(static_cast<int>(self->errors_.size() * 3));
    uint32_t i = 0;
    for (const ClientError& e : self->errors_) {
      Nan::Set(out, i++, Nan::New(e.code));
      Nan::Set(out, i++, Nan::New(e.message).ToLocalChecked());
      Nan::Set(out, i++, Nan::New(e.fatal));
    }
    self->errors_.clear();
    info.GetReturnValue().Set(out);
  }

  static NAN_METHOD(Close) {
    auto* self = Nan::ObjectWrap::Unwrap<PackedProducer>(info.Holder());
    const int timeoutMs = Nan::To<int32_t>(info[0]).FromMaybe(0);
    self->Destroy(timeoutMs < 0 ? 0 : timeoutMs);
  }
};

// errString(code) → librdkafka's description of an error code.
NAN_METHOD(ErrString) {
  const int code = Nan::To<int32_t>(info[0]).FromMaybe(0);
  info.GetReturnValue().Set(Nan::New(rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(code))).ToLocalChecked());
}

}  // namespace

void InitPackedProducer(v8::Local<v8::Object> target) {
  PackedProducer::Init(target);
  Nan::SetMethod(target, "errString", ErrString);
}

}  // namespace riptide
