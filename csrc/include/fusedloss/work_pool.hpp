// The kernels' thread pool: how a call with threads > 1 runs its fixed blocks of work.
//
// Why not an OpenMP parallel region: a region ends in a barrier that waits for every thread of
// the team, whether or not the OS has given it a CPU yet. On a loaded machine (or a VM whose
// virtual CPUs are not always running together) a 2-thread call then waits for a thread that is
// not running: a host time slice, 16-260 ms, for calls that take 1-3 ms on one thread. Here the
// calling thread claims tasks like any worker, workers join when they get a CPU, and the call
// returns as soon as every task is done: a worker that wakes late finds nothing left.
//
// Declarations only (compiled once, in a baseline unit, csrc/runtime/work_pool.cpp): the ISA
// units call these through plain function pointers and raw pointers, nothing inline crosses.
#pragma once

#include <cstdint>

namespace fusedloss {

// run_task(context, task) computes task `task`; it must not throw.
using TaskFunction = void (*)(void* context, std::int64_t task);

// Runs run_task(context, t) once for every t in [0, tasks), on the calling thread and on up to
// threads - 1 pool workers. Tasks are claimed in increasing order from one shared counter
// (whoever is running takes the next unclaimed one, the caller included); returns when every
// task is done. A task may wait for an *earlier-claimed* task (they are all running or done),
// never for a later one. Results must not depend on which thread ran a task.
// Workers are woken only for CPUs that are idle at the time (machine-wide runnable threads,
// /proc/loadavg, sampled at most once a millisecond): on a machine with no idle CPU a worker
// could only run by preempting other work and would be preempted in turn while it holds a task
// the caller must wait for -- so a loaded machine gets the 1-thread time, not worse.
// threads <= 1, tasks <= 1, no idle CPU, or a pool already busy with another call (a
// concurrent call from another thread, or a call from inside a task): every task runs on the
// calling thread.
void run_tasks(std::int64_t tasks, int threads, TaskFunction run_task, void* context);

// One step of waiting for a task that another thread has claimed: a pause instruction for the
// first few thousand attempts (attempt = 0, 1, ...), then a yield of the CPU.
void pause_waiting(std::int64_t attempt);

// The thread count of a call with threads=None: OpenMP's default (omp_get_max_threads(): what
// OMP_NUM_THREADS and threadpoolctl set), capped -- unless OMP_NUM_THREADS or omp_set_num_threads
// chose it explicitly -- by the CPUs of the process's affinity mask and the CPU limit set with
// set_cpu_limit (a cgroup quota found by the Python layer).
int default_thread_count();
// OpenMP's own default (omp_get_max_threads(); 1 without OpenMP).
int openmp_thread_count();
// CPUs the process may use by quota (0: no limit); set at import from the cgroup files.
void set_cpu_limit(int cpus);
int cpu_limit();
// CPUs in the affinity mask of the calling thread (0 if unknown).
int affinity_cpu_count();
// Wake workers even when no CPU is idle (initially: environment FUSEDLOSS_WAKE_BUSY=1). For
// the tests (the threaded schedule whatever the machine's load) and measurements of the pool.
void set_wake_when_busy(bool wake);
bool wake_when_busy();
// Workers started so far in this process (for show_config and tests).
int pool_worker_count();

}  // namespace fusedloss
