// The librdkafka handle inside a node-rdkafka client, and the addon's methods declared across files.
#pragma once

#include <nan.h>

#include "src/connection.h"
#include "rdkafka.h"

namespace riptide {

// Read access to Connection's protected members, without instantiating anything.
struct Peek : NodeKafka::Connection {
  static RdKafka::Handle* NodeKafka::Connection::*Client() { return &Peek::m_client; }
  static bool NodeKafka::Connection::*Closing() { return &Peek::m_is_closing; }
};

// The rd_kafka_t of a node-rdkafka client's native object (KafkaConsumer or Producer), or null
// when it is not one, not connected or closing.
inline rd_kafka_t* HandleOf(v8::Local<v8::Value> v) {
  if (!v->IsObject()) return nullptr;
  v8::Local<v8::Object> obj = v.As<v8::Object>();
  if (obj->InternalFieldCount() < 1) return nullptr;
  auto* conn = Nan::ObjectWrap::Unwrap<NodeKafka::Connection>(obj);
  if (conn == nullptr || conn->*Peek::Closing()) return nullptr;
  RdKafka::Handle* h = conn->*Peek::Client();
  return h == nullptr ? nullptr : h->c_ptr();
}

// produce.cc: per record, PRODUCE_STRIDE doubles: value start, value length (-1: null),
// key start, key length (-1: null), all within one Buffer; then the delivery report's opaque, a
// number (-1: none).
constexpr int PRODUCE_STRIDE = 5;
NAN_METHOD(ProduceMany);
void EnqueuePacked(const Nan::FunctionCallbackInfo<v8::Value>& info, rd_kafka_t* rk, int a, bool raw);

// packed-producer.cc: a producer of its own whose delivery reports are packed numbers.
void InitPackedProducer(v8::Local<v8::Object> target);

}  // namespace riptide
