// Many records per call for a node-rdkafka producer.
//
// node-rdkafka's produce() costs about 2 us of the JS thread per record (argument checks, the
// topic name converted, a Buffer per value): the load generator spent a third of its thread
// there, and a generator that eats a core leaves less of a 2-core machine to what it measures.
// produce(producer, topic, partition, data, meta, from, count) enqueues records from..from+count
// of a batch packed in one Buffer (meta: PRODUCE_STRIDE doubles per record, handle.h) with
// rd_kafka_producev (copied: the Buffer can be reused at once), on the calling thread, and stops
// at the first record the local queue has no room for. It returns how many it enqueued (the
// caller backs off and calls again from there), or -1 when the producer is not connected; any
// other error throws, with `done`: how many records before the refused one were enqueued. Delivery
// reports go through node-rdkafka's callback as for its own produce(); a record's opaque (a number,
// meta's fifth field, -1 for none) is handed over as node-rdkafka's produce() hands its own: a
// Nan::Persistent its delivery-report dispatcher reads into the report and deletes.
#include <nan.h>

#include <string>

#include "handle.h"

namespace riptide {

// Enqueues records from..from+count of a packed batch: info[a] topic, info[a+1] partition,
// info[a+2] data, info[a+3] meta, info[a+4] from, info[a+5] count. Returns the count enqueued
// (or throws). A record's opaque (meta's fifth number, -1 for none) becomes a Nan::Persistent
// (node-rdkafka's report dispatch reads and deletes it) or, with `raw`, the message's opaque
// pointer itself (the packed producer's report callback reads it as a number).
void EnqueuePacked(const Nan::FunctionCallbackInfo<v8::Value>& info, rd_kafka_t* rk, int a, bool raw) {
  if (info.Length() < a + 6 || !info[a]->IsString() || !node::Buffer::HasInstance(info[a + 2]) || !info[a + 3]->IsFloat64Array()) {
    Nan::ThrowTypeError("produce(…, topic: string, partition, data: Buffer, meta: Float64Array, from, count)");
    return;
  }
  Nan::Utf8String topic(info[a]);
  const int32_t partition = Nan::To<int32_t>(info[a + 1]).FromMaybe(RD_KAFKA_PARTITION_UA);
  const char* data = node::Buffer::Data(info[a + 2]);
  const double size = static_cast<double>(node::Buffer::Length(info[a + 2]));
  v8::Local<v8::Float64Array> metaArr = info[a + 3].As<v8::Float64Array>();
  const double* meta = reinterpret_cast<const double*>(static_cast<char*>(metaArr->Buffer()->GetBackingStore()->Data()) + metaArr->ByteOffset());
  const double rows = static_cast<double>(metaArr->Length() / PRODUCE_STRIDE);
  const double from = Nan::To<double>(info[a + 4]).FromMaybe(-1);
  const double count = Nan::To<double>(info[a + 5]).FromMaybe(-1);
  if (!(from >= 0) || !(count >= 0) || from + count > rows) {
    Nan::ThrowRangeError("produce: from/count outside meta");
    return;
  }
  // Every slice inside data, checked before anything is enqueued.
  for (double i = from; i < from + count; i++) {
    const double* r = meta + static_cast<size_t>(i) * PRODUCE_STRIDE;
    for (int f = 0; f < 4; f += 2) {
      if (r[f + 1] < 0) continue;
      if (!(r[f] >= 0) || !(r[f] + r[f + 1] <= size)) {
        Nan::ThrowRangeError("produce: a record's bytes lie outside data");
        return;
      }
    }
    if (!(r[4] == -1 || (r[4] >= 0 && r[4] <= 9007199254740991.0 && r[4] == static_cast<double>(static_cast<int64_t>(r[4]))))) {
      Nan::ThrowRangeError("produce: a record's opaque must be -1 or a non-negative integer");
      return;
    }
  }
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, *topic, nullptr);  // the client's own, counted
  if (rkt == nullptr) {
    Nan::ThrowError(rd_kafka_err2str(rd_kafka_last_error()));
    return;
  }
  size_t done = 0;
  const size_t first = static_cast<size_t>(from), n = static_cast<size_t>(count);
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  for (; done < n; done++) {
    const double* r = meta + (first + done) * PRODUCE_STRIDE;
    const void* value = r[1] < 0 ? nullptr : data + static_cast<size_t>(r[0]);
    const size_t vlen = r[1] < 0 ? 0 : static_cast<size_t>(r[1]);
    const void* key = r[3] < 0 ? nullptr : data + static_cast<size_t>(r[2]);
    const size_t klen = r[3] < 0 ? 0 : static_cast<size_t>(r[3]);
    Nan::Persistent<v8::Value>* persistent = raw || r[4] < 0 ? nullptr : new Nan::Persistent<v8::Value>(Nan::New<v8::Number>(r[4]));
    void* opaque = raw ? reinterpret_cast<void*>(static_cast<uintptr_t>(r[4] < 0 ? 0 : r[4])) : persistent;
    err = rd_kafka_producev(rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                            RD_KAFKA_V_VALUE(const_cast<void*>(value), vlen), RD_KAFKA_V_KEY(key, klen),
                            RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (persistent != nullptr) {  // not enqueued: no delivery report will free it
        persistent->Reset();
        delete persistent;
      }
      break;
    }
  }
  rd_kafka_topic_destroy(rkt);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
    v8::Local<v8::Value> e = Nan::Error(rd_kafka_err2str(err));
    Nan::Set(e.As<v8::Object>(), Nan::New("code").ToLocalChecked(), Nan::New(static_cast<int>(err)));
    Nan::Set(e.As<v8::Object>(), Nan::New("done").ToLocalChecked(), Nan::New(static_cast<double>(done)));
    Nan::ThrowError(e);
    return;
  }
  info.GetReturnValue().Set(Nan::New(static_cast<double>(done)));
}

NAN_METHOD(ProduceMany) {
  rd_kafka_t* rk = HandleOf(info[0]);
  if (rk == nullptr) {
    info.GetReturnValue().Set(Nan::New(-1));
    return;
  }
  EnqueuePacked(info, rk, 1, false);
}

}  // namespace riptide
