// Why a goroutine is waiting: Go's waitReason, with the strings goroutine dumps print.
//
// The enumerators and their strings follow current Go's waitReasonStrings in order, so a
// dump reads as Go's does. Values are never reused; add new ones at the end.
#pragma once

#include <cstdint>
#include <string_view>

namespace goro::rt {

enum class waitreason : std::uint8_t {
  zero,
  gc_assist_marking,
  io_wait,
  dumping_heap,
  garbage_collection,
  garbage_collection_scan,
  panicwait,
  gc_assist_wait,
  gc_sweep_wait,
  gc_scavenge_wait,
  finalizer_wait,
  force_gc_idle,
  gomaxprocs_updater_idle,
  semacquire,
  sleep,
  chan_receive_nil_chan,
  chan_send_nil_chan,
  select_no_cases,
  select,
  chan_receive,
  chan_send,
  sync_cond_wait,
  sync_mutex_lock,
  sync_rwmutex_rlock,
  sync_rwmutex_lock,
  sync_waitgroup_wait,
  trace_reader_blocked,
  wait_for_gc_cycle,
  gc_worker_idle,
  gc_worker_active,
  preempted,
  debug_call,
  gc_mark_termination,
  stopping_the_world,
  flushing_proc_caches,
  trace_goroutine_status,
  trace_proc_status,
  page_trace_flush,
  coroutine,
  gc_weak_to_strong_wait,
  synctest_run,
  synctest_wait,
  chan_receive_durable,
  chan_send_durable,
  select_durable,
  sync_waitgroup_wait_durable,
  cleanup_wait,
  // goro-only reasons follow Go's.
  sync_once,  // waiting for another goroutine's call_once to finish
  count
};

std::string_view waitreason_string(waitreason r);

}  // namespace goro::rt
