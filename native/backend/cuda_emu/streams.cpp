// Streams, stream capture, graphs and events of the emulated runtime. Work runs synchronously on the enqueueing
// thread; a capturing stream records it instead (kernel arguments are bound at capture time, as in CUDA), and
// cudaGraphLaunch replays the recorded operations in capture order. The capture rules that make real captures fail
// are enforced: calls that are unsafe during a Global (any thread) or ThreadLocal (capturing thread) capture
// return cudaErrorStreamCaptureUnsupported and invalidate the capture, synchronising a capturing stream is an
// error, the legacy stream cannot be captured, and captured copies must use pinned host memory.
#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "runtime.h"

struct CUgraph_st {
  struct Node {
    std::string what;
    lfm2_emu::StreamOp op;
  };
  std::vector<Node> nodes;
};
struct CUgraphExec_st {
  std::vector<CUgraph_st::Node> nodes;
};

namespace {

struct Capture {
  CUgraph_st* graph = nullptr;
  cudaStreamCaptureMode mode = cudaStreamCaptureModeGlobal;
  std::thread::id thread;
  cudaStream_t origin = nullptr;
  bool invalidated = false;
  std::string why;  // what invalidated it
};

}  // namespace

struct CUstream_st {
  unsigned flags = 0;
  std::shared_ptr<Capture> capture;  // set while this stream is capturing (shared by streams joined to it)
};

struct CUevent_st {
  unsigned flags = 0;
  bool recorded = false;
  std::chrono::steady_clock::time_point when{};
  std::shared_ptr<Capture> captured_in;  // last recorded into this capture (for cudaStreamWaitEvent joins)
};

namespace lfm2_emu {
namespace {

struct State {
  std::recursive_mutex mu;
  std::set<CUstream_st*> streams;
  std::set<const CUevent_st*> events;
  std::set<const CUgraph_st*> graphs;
  std::set<const CUgraphExec_st*> execs;
  std::vector<std::shared_ptr<Capture>> captures;  // active captures
};
State& st() {
  static State s;
  return s;
}

bool is_default(cudaStream_t s) { return s == nullptr || s == cudaStreamLegacy || s == cudaStreamPerThread; }

void invalidate(Capture& c, const std::string& why) {
  if (!c.invalidated) c.invalidated = true, c.why = why;
}

}  // namespace

cudaError_t check_stream(cudaStream_t s, const char* api) {
  if (is_default(s)) return cudaSuccess;
  std::lock_guard<std::recursive_mutex> lock(st().mu);
  if (!st().streams.count(s))
    return record_error(cudaErrorInvalidResourceHandle,
                        std::string(api) + ": stream is not a live stream (destroyed, or never created)");
  return cudaSuccess;
}

void invalidate_capture(cudaStream_t stream, const std::string& why) {
  if (is_default(stream)) return;
  std::lock_guard<std::recursive_mutex> lock(st().mu);
  if (st().streams.count(stream) && stream->capture) invalidate(*stream->capture, why);
}

bool any_capture_active() {
  std::lock_guard<std::recursive_mutex> lock(st().mu);
  return !st().captures.empty();
}

cudaError_t check_capture_safe(const char* api) {
  std::lock_guard<std::recursive_mutex> lock(st().mu);
  const auto me = std::this_thread::get_id();
  bool bad = false;
  for (auto& c : st().captures) {
    const bool applies = c->mode == cudaStreamCaptureModeGlobal ||
                         (c->mode == cudaStreamCaptureModeThreadLocal && c->thread == me);
    if (!applies) continue;
    invalidate(*c, std::string(api) + " was called during the capture");
    bad = true;
  }
  if (bad)
    return record_error(cudaErrorStreamCaptureUnsupported,
                        std::string(api) + ": operation not permitted when stream is capturing (a Global or "
                                           "ThreadLocal capture is in progress; the capture is now invalidated)");
  return cudaSuccess;
}

cudaError_t enqueue(cudaStream_t stream, const char* what, StreamOp op) {
  std::shared_ptr<Capture> cap;
  {
    std::lock_guard<std::recursive_mutex> lock(st().mu);
    if (is_default(stream)) {
      // The legacy stream waits for every blocking stream: it cannot depend on one that is capturing.
      if (stream != cudaStreamPerThread)
        for (const CUstream_st* s : st().streams)
          if (s->capture && !(s->flags & cudaStreamNonBlocking)) {
            invalidate(*s->capture, std::string(what) + " on the legacy default stream");
            return record_error(cudaErrorStreamCaptureImplicit,
                                std::string(what) + " on the legacy default stream while a blocking stream "
                                                    "(created without cudaStreamNonBlocking) is capturing");
          }
    } else {
      cap = stream->capture;
    }
    if (cap) {
      if (cap->invalidated)
        return record_error(cudaErrorStreamCaptureInvalidated,
                            std::string(what) + ": the stream's capture was invalidated (" + cap->why + ")");
      cap->graph->nodes.push_back(CUgraph_st::Node{what, std::move(op)});
      return cudaSuccess;
    }
  }
  return op();
}

}  // namespace lfm2_emu

using namespace lfm2_emu;

// ---- streams
cudaError_t cudaStreamCreateWithPriority(cudaStream_t* stream, unsigned int flags, int /*priority*/) {
  if (!stream) return record_error(cudaErrorInvalidValue, "cudaStreamCreate: null result pointer");
  if (flags & ~unsigned(cudaStreamNonBlocking))
    return record_error(cudaErrorInvalidValue, "cudaStreamCreateWithFlags: unknown flags " + std::to_string(flags));
  auto* s = new CUstream_st();
  s->flags = flags;
  std::lock_guard<std::recursive_mutex> lock(st().mu);
  st().streams.insert(s);
  *stream = s;
  return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags) {
  return cudaStreamCreateWithPriority(stream, flags, 0);
}
cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithPriority(stream, 0, 0); }

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (is_default(stream)) return record_error(cudaErrorInvalidResourceHandle, "cudaStreamDestroy: the default stream cannot be destroyed");
  std::lock_guard<std::recursive_mutex> lock(st().mu);
  if (!st().streams.count(stream))
    return record_error(cudaErrorInvalidResourceHandle, "cudaStreamDestroy: not a live stream (destroyed twice?)");
  if (stream->capture) {  // CUDA invalidates the capture; the graph is dropped with it
    invalidate(*stream->capture, "a capturing stream was destroyed");
    stream->capture.reset();
  }
  st().streams.erase(stream);
  delete stream;
  return cudaSuccess;
}

static cudaError_t sync_stream(cudaStream_t stream, const char* api) {
  if (cudaError_t e = check_stream(stream, api)) return e;
  std::lock_guard<std::recursive_mutex> lock(st().mu);
  if (!is_default(stream) && stream->capture) {
    invalidate(*stream->capture, std::string(api) + " on the capturing stream");
    return record_error(cudaErrorStreamCaptureUnsupported,
                        std::string(api) + ": the stream is capturing (synchronising it is not permitted; the capture "
                                           "is now invalidated)");
  }
  if (is_default(stream) && stream != cudaStreamPerThread)
    if (cudaError_t e = check_capture_safe(api)) return e;
  return cudaSuccess;  // work already ran when it was enqueued
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) { return sync_stream(stream, "cudaStreamSynchronize"); }
cudaError_t cudaStreamQuery(cudaStream_t stream) { return sync_stream(stream, "cudaStreamQuery"); }

cudaError_t cudaDeviceSynchronize() {
  {
    std::lock_guard<std::recursive_mutex> lock(st().mu);
    if (!st().captures.empty()) {
      for (auto& c : st().captures) invalidate(*c, "cudaDeviceSynchronize was called during the capture");
      return record_error(cudaErrorStreamCaptureUnsupported,
                          "cudaDeviceSynchronize: not permitted while a stream is capturing (the capture is now invalidated)");
    }
  }
  return cudaSuccess;
}

// ---- capture
cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode) {
  if (is_default(stream))
    return record_error(cudaErrorStreamCaptureUnsupported, "cudaStreamBeginCapture: the legacy/default stream cannot be captured");
  if (cudaError_t e = check_stream(stream, "cudaStreamBeginCapture")) return e;
  if (int(mode) < 0 || int(mode) > 2)
    return record_error(cudaErrorInvalidValue, "cudaStreamBeginCapture: unknown mode " + std::to_string(int(mode)));
  std::lock_guard<std::recursive_mutex> lock(st().mu);
  if (stream->capture) return record_error(cudaErrorIllegalState, "cudaStreamBeginCapture: the stream is already capturing");
  auto c = std::make_shared<Capture>();
  c->graph = new CUgraph_st();
  c->mode = mode;
  c->thread = std::this_thread::get_id();
  c->origin = stream;
  stream->capture = c;
  st().captures.push_back(c);
  return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  if (!graph) return record_error(cudaErrorInvalidValue, "cudaStreamEndCapture: null graph pointer");
  *graph = nullptr;
  if (is_default(stream)) return record_error(cudaErrorIllegalState, "cudaStreamEndCapture: the default stream is not capturing");
  if (cudaError_t e = check_stream(stream, "cudaStreamEndCapture")) return e;
  std::lock_guard<std::recursive_mutex> lock(st().mu);
  std::shared_ptr<Capture> c = stream->capture;
  if (!c) return record_error(cudaErrorIllegalState, "cudaStreamEndCapture: the stream is not capturing");
  if (c->origin != stream)
    return record_error(cudaErrorStreamCaptureUnmatched, "cudaStreamEndCapture: called on a stream that joined the "
                                                         "capture, not on the stream that began it");
  if (c->mode == cudaStreamCaptureModeThreadLocal && c->thread != std::this_thread::get_id())
    return record_error(cudaErrorStreamCaptureWrongThread, "cudaStreamEndCapture: a ThreadLocal capture must be ended by its thread");
  for (CUstream_st* s : st().streams)
    if (s->capture == c) s->capture.reset();
  auto& caps = st().captures;
  for (size_t i = 0; i < caps.size(); ++i)
    if (caps[i] == c) caps.erase(caps.begin() + long(i)), --i;
  if (c->invalidated) {
    delete c->graph;
    return record_error(cudaErrorStreamCaptureInvalidated, "cudaStreamEndCapture: the capture was invalidated (" + c->why + ")");
  }
  st().graphs.insert(c->graph);
  *graph = c->graph;
  return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status) {
  if (!status) return record_error(cudaErrorInvalidValue, "cudaStreamIsCapturing: null status pointer");
  *status = cudaStreamCaptureStatusNone;
  if (is_default(stream)) return cudaSuccess;
  if (cudaError_t e = check_stream(stream, "cudaStreamIsCapturing")) return e;
  std::lock_guard<std::recursive_mutex> lock(st().mu);
  if (stream->capture)
    *status = stream->capture->invalidated ? cudaStreamCaptureStatusInvalidated : cudaStreamCaptureStatusActive;
  return cudaSuccess;
}

// ---- graphs
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long /*flags*/) {
  if (!exec) return record_error(cudaErrorInvalidValue, "cudaGraphInstantiate: null result pointer");
  *exec = nullptr;
  std::lock_guard<std::recursive_mutex> lock(st().mu);
  if (!st().graphs.count(graph)) return record_error(cudaErrorInvalidValue, "cudaGraphInstantiate: not a live graph");
  auto* x = new CUgraphExec_st();
  x->nodes = graph->nodes;
  st().execs.insert(x);
  *exec = x;
  return cudaSuccess;
}
cudaError_t cudaGraphInstantiateWithFlags(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long flags) {
  return cudaGraphInstantiate(exec, graph, flags);
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  if (cudaError_t e = check_stream(stream, "cudaGraphLaunch")) return e;
  std::vector<CUgraph_st::Node> nodes;
  {
    std::lock_guard<std::recursive_mutex> lock(st().mu);
    if (!st().execs.count(exec))
      return record_error(cudaErrorInvalidResourceHandle, "cudaGraphLaunch: not a live executable graph (destroyed?)");
    nodes = exec->nodes;
  }
  // On a capturing stream the graph's work is recorded (a child graph in CUDA); otherwise it runs in order.
  for (auto& n : nodes)
    if (cudaError_t e = enqueue(stream, n.what.c_str(), n.op)) return e;
  return cudaSuccess;
}

cudaError_t cudaGraphGetNodes(cudaGraph_t graph, cudaGraphNode_t* nodes, size_t* count) {
  if (!count) return record_error(cudaErrorInvalidValue, "cudaGraphGetNodes: null count pointer");
  std::lock_guard<std::recursive_mutex> lock(st().mu);
  if (!st().graphs.count(graph)) return record_error(cudaErrorInvalidValue, "cudaGraphGetNodes: not a live graph");
  if (nodes)
    for (size_t i = 0; i < std::min(*count, graph->nodes.size()); ++i)
      nodes[i] = reinterpret_cast<cudaGraphNode_t>(&graph->nodes[i]);
  *count = graph->nodes.size();
  return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  std::lock_guard<std::recursive_mutex> lock(st().mu);
  if (!st().execs.erase(exec)) return record_error(cudaErrorInvalidValue, "cudaGraphExecDestroy: not a live executable graph");
  delete exec;
  return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  std::lock_guard<std::recursive_mutex> lock(st().mu);
  if (!st().graphs.erase(graph)) return record_error(cudaErrorInvalidValue, "cudaGraphDestroy: not a live graph");
  delete graph;
  return cudaSuccess;
}

// ---- events
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags) {
  if (!event) return record_error(cudaErrorInvalidValue, "cudaEventCreate: null result pointer");
  auto* e = new CUevent_st();
  e->flags = flags;
  std::lock_guard<std::recursive_mutex> lock(st().mu);
  st().events.insert(e);
  *event = e;
  return cudaSuccess;
}
cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, cudaEventDefault); }

static cudaError_t check_event(cudaEvent_t e, const char* api) {
  std::lock_guard<std::recursive_mutex> lock(st().mu);
  if (!st().events.count(e))
    return record_error(cudaErrorInvalidResourceHandle, std::string(api) + ": not a live event (destroyed, or never created)");
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (cudaError_t e = check_event(event, "cudaEventRecord")) return e;
  if (cudaError_t e = check_stream(stream, "cudaEventRecord")) return e;
  {
    std::lock_guard<std::recursive_mutex> lock(st().mu);
    event->captured_in = is_default(stream) ? nullptr : stream->capture;
  }
  return enqueue(stream, "cudaEventRecord", [event]() -> cudaError_t {
    event->recorded = true;
    event->when = std::chrono::steady_clock::now();
    return cudaSuccess;
  });
}

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int /*flags*/) {
  if (cudaError_t e = check_event(event, "cudaStreamWaitEvent")) return e;
  if (cudaError_t e = check_stream(stream, "cudaStreamWaitEvent")) return e;
  std::lock_guard<std::recursive_mutex> lock(st().mu);
  // Waiting on an event recorded in a capture joins the waiting stream to that capture (fork); later work on it
  // is recorded into the same graph (the emulation keeps one linear order, a valid order of CUDA's DAG).
  const bool capture_active = event->captured_in &&
                              std::find(st().captures.begin(), st().captures.end(), event->captured_in) !=
                                  st().captures.end();
  if (capture_active && !event->captured_in->invalidated) {
    if (is_default(stream))
      return record_error(cudaErrorStreamCaptureIsolation, "cudaStreamWaitEvent: the legacy stream cannot join a capture");
    if (stream->capture && stream->capture != event->captured_in)
      return record_error(cudaErrorStreamCaptureMerge, "cudaStreamWaitEvent: the stream already belongs to another capture");
    stream->capture = event->captured_in;
  }
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (cudaError_t e = check_event(event, "cudaEventSynchronize")) return e;
  std::lock_guard<std::recursive_mutex> lock(st().mu);
  if (event->captured_in && event->captured_in->graph && !event->captured_in->invalidated) {
    for (auto& c : st().captures)
      if (c == event->captured_in)
        return record_error(cudaErrorCapturedEvent, "cudaEventSynchronize: the event was recorded in a capture still in progress");
  }
  return cudaSuccess;
}

cudaError_t cudaEventQuery(cudaEvent_t event) { return cudaEventSynchronize(event); }

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!ms) return record_error(cudaErrorInvalidValue, "cudaEventElapsedTime: null result pointer");
  if (cudaError_t e = check_event(start, "cudaEventElapsedTime")) return e;
  if (cudaError_t e = check_event(end, "cudaEventElapsedTime")) return e;
  if ((start->flags | end->flags) & cudaEventDisableTiming)
    return record_error(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: an event was created with cudaEventDisableTiming");
  if (!start->recorded || !end->recorded)
    return record_error(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: an event has not been recorded");
  *ms = std::chrono::duration<float, std::milli>(end->when - start->when).count();
  return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  std::lock_guard<std::recursive_mutex> lock(st().mu);
  if (!st().events.erase(event)) return record_error(cudaErrorInvalidResourceHandle, "cudaEventDestroy: not a live event");
  delete event;
  return cudaSuccess;
}
