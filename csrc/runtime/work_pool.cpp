// The work-claiming pool behind run_tasks (see fusedloss/work_pool.hpp for why it exists).
//
// One call = one job. The job's tasks are handed out by a 64-bit counter that holds the job's
// epoch in its high half and the next unclaimed task in its low half; a thread claims a task
// with a compare-and-swap that succeeds only while the epoch is still its job's. So a worker
// that wakes after its job ended (or that read the description of an older job) cannot claim
// anything of a later call, and never touches a call's data unless it holds one of its tasks.
// The caller claims tasks like any worker and returns once the count of finished tasks reaches
// the job's size: it never waits for a worker that has not claimed anything.
//
// Workers sleep on a condition variable between jobs, after a short spin (a call that follows
// another within ~50 us finds them awake). They are started on demand, never joined (detached:
// the pool lives until the process ends), and have every signal blocked (Python handles signals
// on its main thread). After fork() the child forgets the parent's pool (its threads do not
// exist there) and starts a new one on its first parallel call.
#include "fusedloss/work_pool.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#if defined(FUSEDLOSS_HAVE_OPENMP)
#include <omp.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#include <signal.h>
#define FUSEDLOSS_POSIX_THREADS 1
#endif
#if defined(__linux__)
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>
#endif
#include <chrono>
#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)
#include <immintrin.h>
#endif

namespace fusedloss {
namespace {

// The most threads one call uses, whatever `threads=` asks (a cap, so fewer is allowed).
constexpr int maximum_participants = 256;
// Microseconds a worker spins for a new job before it sleeps (FUSEDLOSS_SPIN_US overrides).
constexpr int default_worker_spin_microseconds = 50;
const int worker_spin_microseconds = [] {
    const char* value = std::getenv("FUSEDLOSS_SPIN_US");
    return value != nullptr && value[0] != '\0' ? std::atoi(value) : default_worker_spin_microseconds;
}();
// Pause instructions a thread spins for a claimed task to finish before it yields its CPU.
constexpr int waiting_spin_pauses = 4000;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)
    _mm_pause();
#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
    __asm__ __volatile__("yield");
#endif
}

constexpr std::uint64_t task_mask = 0xffffffffu;

// Pool workers spinning for a next job right now: runnable, but ours and about to be free.
std::atomic<int> spinning_workers{0};

class WorkPool {
public:
    void run(std::int64_t tasks, int threads, TaskFunction run_task, void* context) {
        std::uint32_t epoch = 0;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            start_workers(threads - 1);
            epoch = ++epoch_;
            if (epoch == 0) epoch = ++epoch_;  // 0 is "no job yet" for the workers
            run_task_ = run_task;
            context_ = context;
            tasks_ = tasks;
            seats_ = threads - 1;
            done_.store(0, std::memory_order_relaxed);
            next_.store(static_cast<std::uint64_t>(epoch) << 32, std::memory_order_relaxed);
            published_epoch_.store(epoch, std::memory_order_release);
            for (int woken = 0; woken < seats_ && woken < sleeping_; ++woken) wake_.notify_one();
        }
        claim_and_run(epoch, tasks, run_task, context);
        // Only tasks that a running thread has claimed can be left: wait for those.
        for (std::int64_t attempt = 0; done_.load(std::memory_order_acquire) != tasks; ++attempt) {
            pause_waiting(attempt);
        }
    }

    // The pool serves one call at a time; a call that finds it busy runs serially.
    bool try_acquire() { return !busy_.exchange(true, std::memory_order_acquire); }
    void release() { busy_.store(false, std::memory_order_release); }

    int worker_count() {
        std::lock_guard<std::mutex> lock(mutex_);
        return static_cast<int>(workers_started_);
    }

private:
    void claim_and_run(std::uint32_t epoch, std::int64_t tasks, TaskFunction run_task, void* context) {
        std::uint64_t word = next_.load(std::memory_order_relaxed);
        for (;;) {
            if (static_cast<std::uint32_t>(word >> 32) != epoch) return;
            const std::int64_t task = static_cast<std::int64_t>(word & task_mask);
            if (task >= tasks) return;
            if (next_.compare_exchange_weak(word, word + 1, std::memory_order_acquire,
                                            std::memory_order_relaxed)) {
                run_task(context, task);
                done_.fetch_add(1, std::memory_order_release);
                word = next_.load(std::memory_order_relaxed);
            }
        }
    }

    // Called with mutex_ held.
    void start_workers(int wanted) {
        while (workers_started_ < static_cast<std::size_t>(wanted)) {
#if defined(FUSEDLOSS_POSIX_THREADS)
            // Workers inherit a full signal mask: signals go to the threads that expect them.
            sigset_t all, previous;
            sigfillset(&all);
            pthread_sigmask(SIG_SETMASK, &all, &previous);
#endif
            bool started = true;
            try {
                std::thread(&WorkPool::worker_loop, this).detach();
            } catch (const std::system_error&) {
                started = false;  // out of threads: run with the ones there are
            }
#if defined(FUSEDLOSS_POSIX_THREADS)
            pthread_sigmask(SIG_SETMASK, &previous, nullptr);
#endif
            if (!started) break;
            ++workers_started_;
        }
    }

    void worker_loop() {
        std::uint32_t seen = 0;
        for (;;) {
            spinning_workers.fetch_add(1, std::memory_order_relaxed);
            const auto spin_end = std::chrono::steady_clock::now() + std::chrono::microseconds(worker_spin_microseconds);
            for (int spin = 1; published_epoch_.load(std::memory_order_acquire) == seen; ++spin) {
                cpu_relax();
                if (spin % 64 == 0 && std::chrono::steady_clock::now() >= spin_end) break;
            }
            spinning_workers.fetch_sub(1, std::memory_order_relaxed);
            std::uint32_t epoch = 0;
            std::int64_t tasks = 0;
            TaskFunction run_task = nullptr;
            void* context = nullptr;
            {
                std::unique_lock<std::mutex> lock(mutex_);
                for (;;) {
                    if (epoch_ != seen && seats_ > 0) break;
                    seen = epoch_;  // a job with no seat left is not this worker's
                    ++sleeping_;
                    wake_.wait(lock);
                    --sleeping_;
                }
                --seats_;
                seen = epoch = epoch_;
                tasks = tasks_;
                run_task = run_task_;
                context = context_;
            }
            claim_and_run(epoch, tasks, run_task, context);
        }
    }

    std::atomic<bool> busy_{false};
    std::atomic<std::uint64_t> next_{0};
    std::atomic<std::int64_t> done_{0};
    std::atomic<std::uint32_t> published_epoch_{0};

    std::mutex mutex_;  // guards everything below
    std::condition_variable wake_;
    std::uint32_t epoch_ = 0;
    TaskFunction run_task_ = nullptr;
    void* context_ = nullptr;
    std::int64_t tasks_ = 0;
    int seats_ = 0;
    int sleeping_ = 0;
    std::size_t workers_started_ = 0;
};

// Never deleted: detached workers keep using it until the process ends. A child of fork()
// drops the pointer (the parent's workers, and possibly a held mutex, do not carry over).
std::atomic<WorkPool*> global_pool{nullptr};

WorkPool& pool() {
    WorkPool* current = global_pool.load(std::memory_order_acquire);
    if (current != nullptr) return *current;
    auto* created = new WorkPool();
    if (global_pool.compare_exchange_strong(current, created, std::memory_order_acq_rel)) return *created;
    delete created;  // another thread installed one first (no thread started on ours)
    return *current;
}

std::atomic<int> quota_cpus{0};
// FUSEDLOSS_WAKE_BUSY=1 (or set_wake_when_busy): wake workers even with no idle CPU (the
// tests, to run the threaded schedule whatever the machine's load; measurements of the pool).
std::atomic<bool> wake_busy{[] {
    const char* value = std::getenv("FUSEDLOSS_WAKE_BUSY");
    return value != nullptr && value[0] == '1';
}()};

// Whether the user chose OpenMP's thread count (then it is taken as it is).
const bool openmp_count_from_environment = [] {
    const char* value = std::getenv("OMP_NUM_THREADS");
    return value != nullptr && value[0] != '\0';
}();
const int openmp_count_at_load = openmp_thread_count();

#if defined(FUSEDLOSS_POSIX_THREADS)
void forget_pool_in_child() {
    global_pool.store(nullptr, std::memory_order_relaxed);
    spinning_workers.store(0, std::memory_order_relaxed);  // the parent's, not running here
}
[[maybe_unused]] const int fork_handler_registered = pthread_atfork(nullptr, nullptr, &forget_pool_in_child);
#endif

}  // namespace

void pause_waiting(std::int64_t attempt) {
    if (attempt < waiting_spin_pauses) {
        cpu_relax();
    } else {
        std::this_thread::yield();
    }
}

namespace {

#if defined(__linux__)
// Threads the kernel is running or has ready to run right now, machine-wide (the R/T field
// of /proc/loadavg, the reader included); 0 if unknown.
int runnable_threads() {
    const int file = ::open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
    if (file < 0) return 0;
    char text[128];
    const ssize_t length = ::read(file, text, sizeof(text) - 1);
    ::close(file);
    if (length <= 0) return 0;
    text[length] = '\0';
    // "0.52 0.58 0.59 3/1234 5678": the fourth field's numerator.
    int fields = 0;
    const char* at = text;
    while (*at != '\0' && fields < 3) {
        if (*at == ' ') ++fields;
        ++at;
    }
    int running = 0;
    while (*at >= '0' && *at <= '9') running = running * 10 + (*at++ - '0');
    return *at == '/' ? running : 0;
}

const long online_cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
std::atomic<std::int64_t> idle_checked_at{-1000000000};
std::atomic<int> idle_cpus_seen{0};
#endif

// CPUs with nothing to run (so a woken worker would start at once instead of queueing behind
// other work and being preempted while it holds a task). Looked up at most once a millisecond.
int idle_cpus() {
#if defined(__linux__)
    const std::int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                                 std::chrono::steady_clock::now().time_since_epoch()).count();
    if (now - idle_checked_at.load(std::memory_order_relaxed) >= 1000) {
        const int running = runnable_threads() - spinning_workers.load(std::memory_order_relaxed);
        // The calling thread is running (counted) and stays: the others may use what is left.
        const int idle = running > 0 && online_cpus > 0 ? static_cast<int>(online_cpus) - running : 1 << 20;
        idle_cpus_seen.store(idle, std::memory_order_relaxed);
        idle_checked_at.store(now, std::memory_order_relaxed);
        return idle;
    }
    return idle_cpus_seen.load(std::memory_order_relaxed);
#else
    return 1 << 20;  // unknown: every thread asked for
#endif
}

}  // namespace

void run_tasks(std::int64_t tasks, int threads, TaskFunction run_task, void* context) {
    if (tasks <= 0) return;
    threads = std::min(threads, maximum_participants);
    if (threads > tasks) threads = static_cast<int>(tasks);
    // On a machine with no idle CPU a worker could only run by preempting other work, and would
    // then be preempted in turn while it holds a task that the caller must wait for.
    if (threads > 1 && !wake_busy.load(std::memory_order_relaxed)) threads = std::min(threads, 1 + std::max(0, idle_cpus()));
    // Task numbers share a 64-bit word with the epoch; no real shape comes near 2^32 blocks.
    if (threads > 1 && tasks < static_cast<std::int64_t>(task_mask)) {
        WorkPool& work_pool = pool();
        if (work_pool.try_acquire()) {
            work_pool.run(tasks, threads, run_task, context);
            work_pool.release();
            return;
        }
    }
    for (std::int64_t task = 0; task < tasks; ++task) run_task(context, task);
}

int openmp_thread_count() {
#if defined(FUSEDLOSS_HAVE_OPENMP)
    return omp_get_max_threads();
#else
    const unsigned hardware = std::thread::hardware_concurrency();
    return hardware > 0 ? static_cast<int>(hardware) : 1;
#endif
}

int affinity_cpu_count() {
#if defined(__linux__)
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
#endif
    return 0;
}

void set_cpu_limit(int cpus) { quota_cpus.store(cpus > 0 ? cpus : 0, std::memory_order_relaxed); }
int cpu_limit() { return quota_cpus.load(std::memory_order_relaxed); }

int default_thread_count() {
    const int openmp = openmp_thread_count();
    if (openmp_count_from_environment || openmp != openmp_count_at_load) return std::max(openmp, 1);
    int threads = openmp;
    const int affinity = affinity_cpu_count();
    if (affinity > 0) threads = std::min(threads, affinity);
    const int quota = cpu_limit();
    if (quota > 0) threads = std::min(threads, quota);
    return std::max(threads, 1);
}

void set_wake_when_busy(bool wake) { wake_busy.store(wake, std::memory_order_relaxed); }
bool wake_when_busy() { return wake_busy.load(std::memory_order_relaxed); }

int pool_worker_count() {
    WorkPool* current = global_pool.load(std::memory_order_acquire);
    return current != nullptr ? current->worker_count() : 0;
}

}  // namespace fusedloss
