// A consumer take for node-rdkafka without a JS object per message.
//
// node-rdkafka's consume() runs on libuv's thread pool and hands back one JS object per message,
// built with v8::Object::Set property by property, with a Buffer copied for the value and for the
// key and the topic name made again as a string: on a stream of small JSON messages that is 40 %
// of Riptide's main thread, and each take also waits for a pool thread. take() instead serves the
// same consumer queue (rd_kafka_consume_batch_queue, timeout 0: what is prefetched now, never a
// wait) on the calling thread and packs the messages into one Buffer (values and keys, copied) and
// a Float64Array of their metadata.
//
// The queue is the one node-rdkafka's consume() reads, so rebalance, offset-commit, error and log
// callbacks are served here too (node-rdkafka's callbacks only queue an event for the JS thread),
// the application's poll time is kept (max.poll.interval.ms) and each partition's application
// position advances as in consume(). The caller must not call take() while a consume() is in
// flight (ordering), nor after disconnect() began (src/io/kafka/rdkafka.ts guards both).
//
// node-rdkafka keeps its librdkafka handle in a protected member of NodeKafka::Connection; this
// addon reads it with node-rdkafka's own headers (handle.h: same compiler and headers, so the same
// layout) and links the same librdkafka.so.1 that node-rdkafka loaded. produce.cc is the
// producer's counterpart (many records per call); packed-producer.cc a producer of its own whose
// delivery reports are numbers, not objects.
#include <nan.h>

#include <cstring>
#include <vector>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "handle.h"

namespace {

// Per message, META_STRIDE doubles after meta[0] (the count):
//   partition, offset, timestamp (-1: none), value start, value length (-1: null),
//   key start, key length (-1: null), error code (0: a record)
constexpr int META_STRIDE = 8;

// take(nativeConsumer, max, meta: Float64Array): Buffer | undefined.
// meta[0] := messages taken (0 when none), -1 when the consumer is not connected.
NAN_METHOD(Take) {
  if (info.Length() < 3 || !info[2]->IsFloat64Array()) {
    Nan::ThrowTypeError("take(consumer, max, meta: Float64Array)");
    return;
  }
  v8::Local<v8::Float64Array> metaArr = info[2].As<v8::Float64Array>();
  double* meta = reinterpret_cast<double*>(static_cast<char*>(metaArr->Buffer()->GetBackingStore()->Data()) + metaArr->ByteOffset());
  const size_t room = (metaArr->Length() - 1) / META_STRIDE;
  rd_kafka_t* rk = riptide::HandleOf(info[0]);
  if (rk == nullptr) {
    meta[0] = -1;
    return;
  }
  double want = Nan::To<double>(info[1]).FromMaybe(0);
  size_t max = want < 1 ? 0 : static_cast<size_t>(want);
  if (max > room) max = room;
  meta[0] = 0;
  if (max == 0) return;

  rd_kafka_queue_t* q = rd_kafka_queue_get_consumer(rk);
  if (q == nullptr) {
    meta[0] = -1;
    return;
  }
  static std::vector<rd_kafka_message_t*> msgs;
  if (msgs.size() < max) msgs.resize(max);
  ssize_t n = rd_kafka_consume_batch_queue(q, 0, msgs.data(), max);
  rd_kafka_queue_destroy(q);
  if (n <= 0) return;

  size_t total = 0;
  for (ssize_t i = 0; i < n; i++) total += msgs[i]->len + msgs[i]->key_len;
  // Never reached with a bounded prefetch (queued.max.messages.kbytes is at most 2 GiB); checked
  // before the size is narrowed to the allocation's 32 bits.
  v8::Local<v8::Object> buf;
  if (total >= node::Buffer::kMaxLength || total >= UINT32_MAX || !Nan::NewBuffer(static_cast<uint32_t>(total)).ToLocal(&buf)) {
    for (ssize_t i = 0; i < n; i++) rd_kafka_message_destroy(msgs[i]);
    Nan::ThrowRangeError("take: the messages do not fit one Buffer");
    return;
  }
  char* data = node::Buffer::Data(buf);
  size_t at = 0;
  // Bytes (or none: null) copied to data[at…], where and how long in row[0], row[1] (-1: null).
  auto put = [&](const void* bytes, size_t len, double* row) {
    row[0] = static_cast<double>(at);
    row[1] = bytes == nullptr ? -1 : static_cast<double>(len);
    if (bytes == nullptr) return;
    std::memcpy(data + at, bytes, len);
    at += len;
  };
  for (ssize_t i = 0; i < n; i++) {
    rd_kafka_message_t* m = msgs[i];
    double* row = meta + 1 + i * META_STRIDE;
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(m, &tstype);
    row[0] = m->partition;
    row[1] = static_cast<double>(m->offset);
    row[2] = static_cast<double>(ts);
    put(m->payload, m->len, row + 3);
    put(m->key, m->key_len, row + 5);
    row[7] = m->err;
    rd_kafka_message_destroy(m);
  }
  meta[0] = static_cast<double>(n);
  info.GetReturnValue().Set(buf);
}

NAN_MODULE_INIT(Init) {
#if defined(__GLIBC__)
  // Each take() copies what was prefetched (a few MB of frames) into a new Buffer, and librdkafka
  // reads each fetch response (up to fetch.max.bytes, 50 MB) into a new buffer. With glibc's
  // defaults allocations that size are fresh mmaps given back to the kernel when freed, so every
  // take and fetch wrote to pages never touched before: on this project's VM a first-touch memcpy
  // runs at 280 MB/s (15 us of page fault per 4 KiB page) against 8 GB/s into reused memory, and
  // take() spent 0.9-1.7 s copying a 10 M-record frame backlog (460 MB). Served from the heap and
  // kept there, the pages are reused: that backlog 1.86-2.52 -> 2.51-3.21 M events/s (6 of 6
  // interleaved pairs), 1.5 M JSON messages 402-423 -> 442-477 k/s; peak RSS about 100 MB more
  // (bench/RESULTS.md). Process-wide, set when the Kafka source first loads this addon.
  if (mallopt(M_MMAP_THRESHOLD, 64 << 20) == 0) mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
  Nan::SetMethod(target, "take", Take);
  Nan::SetMethod(target, "produce", riptide::ProduceMany);
  Nan::Set(target, Nan::New("PRODUCE_STRIDE").ToLocalChecked(), Nan::New(riptide::PRODUCE_STRIDE));
  Nan::Set(target, Nan::New("META_STRIDE").ToLocalChecked(), Nan::New(META_STRIDE));
  riptide::InitPackedProducer(target);
}

}  // namespace

NODE_MODULE(riptide_kafka, Init)
