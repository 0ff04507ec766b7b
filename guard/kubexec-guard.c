/* kubexec-guard: runs in the pod and makes sure a command's process tree dies
 * with its kubexec session.
 *
 * The Kubernetes exec API forwards no signals and a dropped connection leaves
 * the remote process running (kubernetes #89031). kubexec therefore runs
 * commands as `kubexec-guard --heartbeat-timeout T -- COMMAND...` and frames
 * the session's stdin (launchers/exec/guardwire.py has the format and the
 * encoder): each record is a 1-byte kind, a 4-byte big-endian length and the
 * payload.
 *
 *     D <data>   bytes for the command's stdin
 *     E          the command's stdin is at EOF
 *     H          heartbeat: kubexec is alive
 *     S <signo>  deliver signal <signo> (1 byte) to the command's group
 *     K          kubexec is leaving: end the whole tree now
 *     X          detach (only with --detachable): leave the command running and
 *                end the session with status 0
 *
 * The guard starts COMMAND in a new session (its own process group) with a
 * pipe as its stdin and the guard's own stdout/stderr (no copying); it is a
 * child subreaper, so processes that escape with setsid or a double fork come
 * back to it. When heartbeats stop for T seconds, the session's stdin ends
 * without an E record, a record is malformed or a K record comes, it kills the
 * tree (SIGTERM, then SIGKILL after the grace period), says why on stderr and
 * exits 255. When the command exits, what it left behind gets LINGER seconds
 * to finish on its own (podman's conmon removing a `--rm` container), then is
 * ended the same way; the exit status is the command's, or 128+signal.
 *
 * Stdin the command has not read yet is held up to PENDING_CAP bytes; beyond
 * that the guard stops reading the session, so the pipe, TCP and kubexec's own
 * bounded buffer hold the writer back. Heartbeats then wait unread behind the
 * data: when the deadline passes while the guard holds stdin back, it reads
 * ahead (to LOOKAHEAD_CAP) for the next heartbeat rather than blame kubexec,
 * and kills only when nothing at all arrives for a whole timeout; a session
 * that ends meanwhile is seen as a hang-up on fd 0.
 *
 * The other direction holds heartbeats back too: while the command's stdout or
 * stderr is full (the reader at kubexec's end is slow), the connections through
 * the API server and the kubelet stop passing stdin on, so a deadline that
 * passes then is moved on, and a whole timeout starts once the output drains.
 * A kubexec that is gone still ends the session (fd 0 hangs up, or the runtime
 * kills the sentinel); one stopped with its connection open holds the command
 * blocked in its writes, as sshd would.
 *
 * The exec's own process is a sentinel, not the guard: containerd's CRI exec
 * SIGKILLs the process it started when the session's stream ends (the client
 * went away while the session carried data, which heartbeats always do), and
 * no process can catch that. Measured on the real test bed: kubexec SIGKILLed
 * while its command wrote, the guard was killed within a second and the
 * command, in a session of its own, ran on under the pod's pid 1. So the
 * process started by the exec forks the guard, relays the signals it gets to
 * it, and exits with its status; the guard learns of the sentinel's death
 * through PR_SET_PDEATHSIG and ends the tree as for a lost session.
 *
 * Detaching (--detachable, the k8sgo launcher's `--detach-on-signal`): a launch
 * holds one exec session per daemon through the API server for the job's life,
 * which at ten thousand pods is the control plane's load (docs/scaling.md). Once
 * PRRTE's daemons are wired up they need no session: each lives by its own TCP
 * connection to its parent and exits when that breaks. So on an X record the
 * guard stops watching the session (no more heartbeats, stdin or sentinel),
 * moves to a session of its own, gives the exec its streams back and has the
 * sentinel exit 0: the exec ends cleanly and the command runs on, still reaped
 * and tidied by the guard. For that the command must not write to the exec's
 * streams itself (they would hold the exec open, and fail it once it ends): with
 * --detachable its stdout and stderr are pipes the guard relays, to the exec
 * until the detach and to /dev/null after it. A daemon's own output is a few
 * lines (its ranks' output goes to prterun over PRRTE's connections), so the
 * relay writes block: no buffering of our own.
 *
 * C rather than Python: it starts once per remote command in every pod, and
 * the Python guard's interpreter start and imports alone cost ~60 ms of CPU.
 * The common case (a command that leaves nothing behind) makes no /proc
 * access at all: as subreaper, "we have no children left" means "nothing of
 * the tree is left".
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef POSIX_SPAWN_SETSID
#error "kubexec-guard needs POSIX_SPAWN_SETSID (glibc >= 2.26 or musl)"
#endif

#define EXIT_USAGE 2
#define EXIT_LOST 255
#define LINGER_S 10.0   /* how long a finished command's leftovers may run on */
#define KILL_WAIT_S 5.0 /* how long to wait for the tree after SIGKILL */
#define HEADER_SIZE 5
#define MAX_PAYLOAD (1u << 20) /* as guardwire.MAX_PAYLOAD */
#define READ_CHUNK 65536
/* Stdin bytes held for a command that does not read them: at this many the guard
 * stops reading the session (the pipe, then TCP, then kubexec's own buffer fill
 * up: flow control), instead of growing until the pod's OOM killer picks it. */
#define PENDING_CAP (1u << 20)
/* When the heartbeat deadline passes while stdin is held back, the guard reads
 * ahead past PENDING_CAP for a heartbeat, up to this many bytes. */
#define LOOKAHEAD_CAP (16u << 20)

static const char USAGE[] =
    "usage: kubexec-guard [--heartbeat-timeout SECONDS] [--grace SECONDS] [--env NAME=VALUE]...\n"
    "                     [--detachable] -- COMMAND...\n"
    "Runs COMMAND for kubexec; stdin must carry kubexec's framed records.\n"
    "--env adds NAME=VALUE to COMMAND's environment (no env(1) to start in between).\n"
    "--detachable relays COMMAND's output, so that an X record can end the session\n"
    "and leave COMMAND running.\n";

/* Signals relayed to the command's group when the guard itself gets them. */
static const int RELAYED[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};
#define NRELAYED (sizeof RELAYED / sizeof RELAYED[0])
/* What the guard gets when the sentinel above it dies (PR_SET_PDEATHSIG). */
#define DEATH_SIGNAL SIGUSR2
/* What the guard sends the sentinel at a detach: exit 0, the exec is done. */
#define RELEASE_SIGNAL SIGUSR1

struct guard {
    double heartbeat_timeout; /* <= 0: no deadline */
    double grace;
    char *const *command;
    char what[200];           /* the command, for messages */
    pid_t pid;                /* the command, leader of its own session */
    int child_exited, child_status;
    int sigfd;
    int sentinel_gone;        /* DEATH_SIGNAL came: the exec's process was killed */
    int pipe_w;               /* the command's stdin, -1 once closed */
    int stdin_eof;            /* an E record came */
    int writer_gone;          /* fd 0 hung up: read what is left, whatever the cap */
    int lookahead;            /* reading ahead for a heartbeat (up to LOOKAHEAD_CAP) */
    /* bytes for the command not yet written (the pipe is non-blocking) */
    char *pending;
    size_t pending_off, pending_len, pending_cap;
    /* the record being decoded */
    unsigned char head[HEADER_SIZE];
    size_t head_len;
    uint32_t payload_left;
    int signo;                /* first payload byte of an S record, -1 if none yet */
    int detachable;           /* --detachable: out[] relay the command's output */
    int out[2];               /* read ends of the command's stdout/stderr pipes, -1: none */
    int detached;             /* an X record came: the session is no longer ours */
    pid_t sentinel;           /* the exec's process, our parent; 0 if there is none */
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int ms_until(double deadline)
{
    double left = deadline - now();
    if (left > 86400.0) /* poll's int milliseconds; we wake up and look again */
        left = 86400.0;
    return left <= 0 ? 0 : (int)(left * 1000.0) + 1;
}

/* ---- the process tree ------------------------------------------------ */

/* Collect exited children: the command and orphans handed to us.
 * Returns 1 while any child is left (as subreaper, that is "any of the tree"). */
static int reap(struct guard *g)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid == 0)
            return 1;
        if (pid < 0)
            return errno == EINTR ? 1 : 0; /* ECHILD: nobody left */
        if (pid == g->pid) {
            g->child_exited = 1;
            g->child_status = status;
        }
    }
}

/* Drain the signalfd; relays the guard's own signals while the command runs. */
static void drain_signals(struct guard *g, int relay)
{
    struct signalfd_siginfo si;
    while (read(g->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == DEATH_SIGNAL)
            g->sentinel_gone = 1;
        else if (relay && si.ssi_signo != SIGCHLD && !g->child_exited)
            killpg(g->pid, (int)si.ssi_signo);
    }
}

/* Wait up to `seconds` for every child to be gone; 1 if they are. */
static int wait_children(struct guard *g, double seconds)
{
    double end = now() + seconds;
    struct pollfd p = {.fd = g->sigfd, .events = POLLIN};
    while (reap(g)) {
        if (now() >= end)
            return 0;
        if (poll(&p, 1, ms_until(end)) > 0)
            drain_signals(g, 0);
    }
    return 1;
}

/* 1 if /proc shows our pid namespace (a pod may see its host's /proc). */
static int proc_is_ours(void)
{
    char buf[32];
    ssize_t n = readlink("/proc/self", buf, sizeof buf - 1);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return atol(buf) == (long)getpid();
}

/* PIDs below us, read from /proc into *out (none if /proc is not ours:
 * never kill strangers). Returns the count. */
static size_t descendants(pid_t **out)
{
    size_t n = 0, cap = 0, found = 0;
    pid_t *pids = NULL, *ppids = NULL;
    *out = NULL;
    if (!proc_is_ours())
        return 0;
    DIR *dir = opendir("/proc");
    if (!dir)
        return 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        char path[64], stat[512], *rest;
        long pid = strtol(e->d_name, &rest, 10);
        if (pid <= 0 || *rest)
            continue;
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t len = read(fd, stat, sizeof stat - 1);
        close(fd);
        if (len <= 0)
            continue;
        stat[len] = '\0';
        /* "pid (comm) state ppid ...": comm may hold anything, even ')' */
        char *close_paren = strrchr(stat, ')');
        char state;
        long ppid;
        if (!close_paren || sscanf(close_paren + 1, " %c %ld", &state, &ppid) != 2)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            pid_t *np = realloc(pids, cap * sizeof *pids);
            pid_t *npp = np ? realloc(ppids, cap * sizeof *ppids) : NULL;
            if (np)
                pids = np;
            if (!npp)
                break;
            ppids = npp;
        }
        pids[n] = (pid_t)pid;
        ppids[n] = (pid_t)ppid;
        n++;
    }
    closedir(dir);
    /* Breadth first from us: pids[0..found) are descendants already found,
     * moved to the front as they are found (each pid is visited once). */
    pid_t parent = getpid();
    for (size_t next = 0;; next++) {
        for (size_t i = found; i < n; i++) {
            if (ppids[i] == parent) {
                pid_t p = pids[i], pp = ppids[i];
                pids[i] = pids[found], ppids[i] = ppids[found];
                pids[found] = p, ppids[found] = pp;
                found++;
            }
        }
        if (next >= found)
            break;
        parent = pids[next];
    }
    free(ppids);
    *out = pids;
    return found;
}

static void close_pipe(struct guard *g)
{
    if (g->pipe_w >= 0) {
        close(g->pipe_w);
        g->pipe_w = -1;
    }
}

/* TERM the command's group and every descendant, then KILL what is left. */
static void kill_tree(struct guard *g)
{
    static const int sigs[] = {SIGTERM, SIGKILL};
    double waits[] = {g->grace, KILL_WAIT_S};
    close_pipe(g);
    for (int i = 0; i < 2; i++) {
        if (!reap(g))
            return;
        /* The group outlives its leader while any member is left, and a pid
         * is not reused while it names a group: safe after the leader died. */
        int group_gone = killpg(g->pid, sigs[i]) < 0 && errno == ESRCH;
        pid_t *victims;
        size_t count = descendants(&victims);
        for (size_t j = 0; j < count; j++)
            kill(victims[j], sigs[i]);
        free(victims);
        if (!count && group_gone && g->child_exited)
            return; /* what is left is out of our sight (/proc not ours) */
        if (wait_children(g, waits[i]))
            return;
    }
}

/* ---- the session stream ---------------------------------------------- */

static void flush(struct guard *g)
{
    while (g->pipe_w >= 0 && g->pending_len) {
        ssize_t n = write(g->pipe_w, g->pending + g->pending_off, g->pending_len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return;
            /* EPIPE: the command closed its stdin; drop what is left */
            g->pending_len = 0;
            close_pipe(g);
            break;
        }
        g->pending_off += (size_t)n;
        g->pending_len -= (size_t)n;
    }
    if (!g->pending_len)
        g->pending_off = 0;
    if (g->stdin_eof && !g->pending_len)
        close_pipe(g);
}

static int queue(struct guard *g, const char *data, size_t len)
{
    if (g->pending_off + g->pending_len + len > g->pending_cap) {
        if (g->pending_off) {
            memmove(g->pending, g->pending + g->pending_off, g->pending_len);
            g->pending_off = 0;
        }
        size_t cap = g->pending_cap ? g->pending_cap : READ_CHUNK;
        while (cap < g->pending_len + len)
            cap *= 2;
        if (cap != g->pending_cap) {
            char *p = realloc(g->pending, cap);
            if (!p)
                return -1;
            g->pending = p;
            g->pending_cap = cap;
        }
    }
    memcpy(g->pending + g->pending_off + g->pending_len, data, len);
    g->pending_len += len;
    return 0;
}

enum verdict { GO_ON, SESSION_LOST, BAD_RECORD, KILL_REQUESTED, NO_MEMORY, NO_HEARTBEAT,
               SENTINEL_KILLED, DETACH };

/* Decode what arrived; D payloads stream straight into the pending buffer. */
static enum verdict feed(struct guard *g, const char *buf, size_t len)
{
    while (len) {
        if (g->head_len < HEADER_SIZE) {
            size_t take = HEADER_SIZE - g->head_len;
            if (take > len)
                take = len;
            memcpy(g->head + g->head_len, buf, take);
            g->head_len += take, buf += take, len -= take;
            if (g->head_len < HEADER_SIZE)
                break;
            g->payload_left = (uint32_t)g->head[1] << 24 | (uint32_t)g->head[2] << 16
                              | (uint32_t)g->head[3] << 8 | g->head[4];
            if (!strchr(g->detachable ? "DEHSKX" : "DEHSK", g->head[0]) || g->head[0] == '\0'
                || g->payload_left > MAX_PAYLOAD)
                return BAD_RECORD;
            g->signo = -1;
        }
        size_t take = g->payload_left < len ? g->payload_left : len;
        if (take) {
            if (g->head[0] == 'D' && g->pipe_w >= 0 && !g->stdin_eof
                && queue(g, buf, take) < 0)
                return NO_MEMORY;
            if (g->head[0] == 'S' && g->signo < 0)
                g->signo = (unsigned char)buf[0];
            g->payload_left -= (uint32_t)take, buf += take, len -= take;
        }
        if (g->payload_left)
            break;
        g->head_len = 0; /* the record is complete */
        switch (g->head[0]) {
        case 'E':
            g->stdin_eof = 1;
            break;
        case 'H':
            g->lookahead = 0; /* kubexec was alive when it sent this: hold back again */
            break;
        case 'S':
            if (g->signo >= 0 && !g->child_exited)
                killpg(g->pid, g->signo);
            break;
        case 'K':
            return KILL_REQUESTED;
        case 'X':
            return DETACH; /* whatever follows is not for us */
        }
    }
    return GO_ON;
}

static enum verdict read_stdin(struct guard *g, double *deadline)
{
    static char buf[READ_CHUNK];
    ssize_t n = read(0, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return GO_ON;
    if (n <= 0)
        return SESSION_LOST;
    if (g->heartbeat_timeout > 0)
        *deadline = now() + g->heartbeat_timeout;
    enum verdict v = feed(g, buf, (size_t)n);
    flush(g);
    return v;
}

/* ---- start-up and the event loop ------------------------------------- */

static int spawn(struct guard *g, int stdin_fd, const int out_fds[2])
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE); /* we ignore it, the command must not */
    sigaddset(&defaults, SIGCHLD);
    for (size_t i = 0; i < NRELAYED; i++)
        sigaddset(&defaults, RELAYED[i]);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, stdin_fd, 0);
    for (int k = 0; k < 2; k++)
        if (out_fds[k] >= 0)
            posix_spawn_file_actions_adddup2(&fa, out_fds[k], k + 1);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK
                                        | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    extern char **environ;
    int err = posix_spawnp(&g->pid, g->command[0], &fa, &attr, g->command, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return err;
}

static void on_alarm(int signo)
{
    (void)signo; /* only there to interrupt a blocked write */
}

/* One line on stderr about a kill, given at most a second: when kubexec stops
 * reading (the slow reader that made the heartbeats stop), a blocking write to
 * a full stderr pipe must not keep the guard from ending the tree. */
__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
    struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART: write gets EINTR */
    sigaction(SIGALRM, &sa, NULL);
    alarm(1);
    va_list ap;
    va_start(ap, fmt);
    vdprintf(2, fmt, ap);
    va_end(ap);
    alarm(0);
}

static void say_why(const struct guard *g, enum verdict v)
{
    switch (v) {
    case SESSION_LOST:
        say("kubexec-guard: session lost (stdin closed without an EOF record): "
                   "ending %s\n", g->what);
        break;
    case BAD_RECORD:
        say("kubexec-guard: session lost (bad record kind=0x%02x): ending %s\n",
                g->head[0], g->what);
        break;
    case KILL_REQUESTED:
        say("kubexec-guard: kill requested by kubexec: ending %s\n", g->what);
        break;
    case NO_MEMORY:
        say("kubexec-guard: out of memory buffering stdin: ending %s\n", g->what);
        break;
    case NO_HEARTBEAT:
        say("kubexec-guard: no heartbeat from kubexec for %g s: ending %s\n",
                g->heartbeat_timeout, g->what);
        break;
    case SENTINEL_KILLED:
        say("kubexec-guard: session lost (the exec's process was killed): ending %s\n",
                g->what);
        break;
    case GO_ON:
    case DETACH:
        break;
    }
}

static int exit_code(int status)
{
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_LOST;
}

/* Holding stdin back: the command has not taken PENDING_CAP bytes yet (or, while
 * reading ahead for a heartbeat, LOOKAHEAD_CAP). */
static int withholding(const struct guard *g)
{
    return g->pipe_w >= 0 && !g->writer_gone
           && g->pending_len >= (g->lookahead ? LOOKAHEAD_CAP : PENDING_CAP);
}

/* The command's output is backed up: the exec's stdout or stderr, which the command
 * writes itself, takes no more. On a real cluster the session's two directions share
 * connections through the API server and the kubelet, and those stop reading our
 * stdin while they cannot pass the output on (measured on the real test bed: a reader
 * that paused 8 s starved a 3 s heartbeat timeout, with kubexec beating all along).
 * A missing heartbeat then says the reader is slow, not that kubexec is gone; a gone
 * kubexec still ends the session, which we see as a hang-up on fd 0 or the
 * sentinel's death. */
static int output_backed_up(void)
{
    struct pollfd p[2] = {{.fd = 1, .events = POLLOUT}, {.fd = 2, .events = POLLOUT}};
    if (poll(p, 2, 0) < 0)
        return 0;
    for (int k = 0; k < 2; k++)
        if (!(p[k].revents & (POLLOUT | POLLERR | POLLHUP | POLLNVAL)))
            return 1;
    return 0;
}

/* --detachable: pass what the command wrote on to our stdout/stderr (the exec's until
 * a detach, /dev/null after it). Blocking writes, as the command's own would be. */
static void relay(struct guard *g, int k)
{
    static char buf[READ_CHUNK];
    ssize_t n = read(g->out[k], buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        close(g->out[k]);
        g->out[k] = -1;
        return;
    }
    for (ssize_t off = 0; off < n;) {
        ssize_t w = write(k + 1, buf + off, (size_t)(n - off));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* the exec's stream is gone: drop the rest, keep draining */
        off += w;
    }
}

/* Relay whatever the command's pipes hold now (the command has exited). */
static void relay_rest(struct guard *g)
{
    for (int k = 0; k < 2; k++) {
        while (g->out[k] >= 0) {
            struct pollfd p = {.fd = g->out[k], .events = POLLIN};
            if (poll(&p, 1, 0) <= 0)
                break;
            relay(g, k);
        }
    }
}

/* The X record: the session is no longer the command's lifeline (see the top). */
static void detach(struct guard *g)
{
    prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0); /* the sentinel's exit is ours to ask for now */
    setsid(); /* out of the exec's process group: what ends that group is not for us */
    int null = open("/dev/null", O_RDWR);
    for (int fd = 0; fd < 3 && null >= 0; fd++)
        dup2(null, fd); /* nothing of ours holds the exec's streams open */
    if (null > 2)
        close(null);
    g->detached = 1;
    g->sentinel_gone = 0;
    if (g->sentinel > 0)
        kill(g->sentinel, RELEASE_SIGNAL);
}

static int run(struct guard *g)
{
    double deadline = g->heartbeat_timeout > 0 ? now() + g->heartbeat_timeout : 0;
    int held = 0;
    int downstream_held = 0; /* the output was backed up at the last deadline */
    while (!g->child_exited) {
        /* While we hold stdin back, heartbeats wait unread behind the data: their
         * absence is ours, not kubexec's. So a deadline that passes then does not
         * kill: we read ahead for a heartbeat instead, and kill only if nothing at
         * all comes for a whole timeout while we read. A session that ends while
         * we hold back shows as a hang-up on fd 0 (POLLHUP for a pipe, POLLRDHUP
         * for a socket). At LOOKAHEAD_CAP nothing tells: the deadline waits. */
        int holding = withholding(g);
        if (held && !holding && deadline > 0)
            deadline = now() + g->heartbeat_timeout; /* reading again: a fresh start */
        held = holding;
        int blind = holding && g->lookahead;
        struct pollfd p[5] = {
            {.fd = g->sigfd, .events = POLLIN},
            {.fd = g->detached ? -1 : 0, .events = holding ? POLLRDHUP : POLLIN},
            {.fd = g->pipe_w >= 0 && g->pending_len ? g->pipe_w : -1, .events = POLLOUT},
            {.fd = g->out[0], .events = POLLIN},
            {.fd = g->out[1], .events = POLLIN},
        };
        enum verdict why = GO_ON;
        if (poll(p, 5, deadline > 0 && !blind ? ms_until(deadline) : -1) > 0) {
            if (p[1].revents && holding)
                g->writer_gone = 1; /* what is left is bounded by the kernel's buffer */
            else if (p[1].revents)
                why = read_stdin(g, &deadline);
            if (p[2].revents)
                flush(g);
            for (int k = 0; k < 2; k++)
                if (p[3 + k].revents)
                    relay(g, k);
            if (p[0].revents)
                drain_signals(g, 1);
        }
        reap(g);
        if (why == DETACH) {
            detach(g);
            deadline = 0; /* no heartbeats from now on */
            continue;
        }
        if (why == GO_ON && g->sentinel_gone && !g->detached)
            why = SENTINEL_KILLED;
        if (why == GO_ON && deadline > 0 && !blind && now() >= deadline) {
            int backed_up = output_backed_up();
            if (backed_up || downstream_held) {
                /* held downstream: look again, and once it clears give the heartbeats
                 * queued behind the output a whole timeout to come through */
                downstream_held = backed_up;
                deadline = now() + g->heartbeat_timeout;
            } else if (!holding)
                why = NO_HEARTBEAT;
            else {
                g->lookahead = 1;
                deadline = now() + g->heartbeat_timeout;
            }
        }
        if (why != GO_ON && !g->child_exited) {
            say_why(g, why);
            kill_tree(g);
            return EXIT_LOST;
        }
    }
    close_pipe(g); /* no more stdin for leftovers: let them see EOF */
    relay_rest(g);
    for (int k = 0; k < 2; k++) /* leftovers writing now get EPIPE; they are ended anyway */
        if (g->out[k] >= 0) {
            close(g->out[k]);
            g->out[k] = -1;
        }
    if (!wait_children(g, LINGER_S)) {
        say("kubexec-guard: %s exited but left processes running for %g s: "
                   "ending them\n", g->what, LINGER_S);
        kill_tree(g);
    }
    return exit_code(g->child_status);
}

static int parse_seconds(const char *opt, const char *text, double *out)
{
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (!*text || *end || errno || isnan(value)) {
        dprintf(2, "kubexec-guard: %s: not a number of seconds: '%s'\n%s", opt, text, USAGE);
        return -1;
    }
    *out = value;
    return 0;
}

/* The command as messages name it: its words, one line, at most 199 bytes. */
static void describe(struct guard *g)
{
    size_t used = 0;
    g->what[0] = '\0';
    for (char *const *arg = g->command; *arg && used < sizeof g->what - 1; arg++) {
        int n = snprintf(g->what + used, sizeof g->what - used, "%s%s",
                         used ? " " : "", *arg);
        used += n < 0 ? 0 : (size_t)n;
    }
    if (used >= sizeof g->what - 1)
        memcpy(g->what + sizeof g->what - 4, "...", 4);
    for (char *c = g->what; *c; c++) /* a script's newlines: the message stays one line */
        if ((unsigned char)*c < ' ')
            *c = ' ';
}

static volatile sig_atomic_t guard_pid;

static void relay_to_guard(int signo)
{
    if (guard_pid > 0)
        kill(guard_pid, signo);
}

static void released(int signo, siginfo_t *info, void *context)
{
    (void)signo, (void)context;
    if (info->si_pid == guard_pid && guard_pid > 0)
        _exit(0); /* the guard detached: the exec is done, the command runs on */
}

/* Split into the sentinel (this process, the one the exec started: it only relays
 * signals to the guard and exits with its status) and the guard (the child, which
 * returns 0 here and goes on). In the guard, returns non-zero when the sentinel is
 * already gone. */
static int sentinel(pid_t *sentinel_pid, int detachable)
{
    pid_t parent = getpid();
    /* before the fork: the guard may ask for the release at any time after it; only a
     * detachable guard does, and only its own signal counts (guard_pid is set at once
     * after the fork, long before a launcher could have asked for a detach) */
    if (detachable) {
        struct sigaction release = {.sa_sigaction = released, .sa_flags = SA_SIGINFO};
        sigemptyset(&release.sa_mask);
        sigaction(RELEASE_SIGNAL, &release, NULL);
    }
    pid_t pid = fork();
    if (pid < 0) {
        signal(RELEASE_SIGNAL, SIG_DFL);
        return 0; /* no sentinel: guard the command as before, from the exec's process */
    }
    if (pid == 0) {
        signal(RELEASE_SIGNAL, SIG_DFL);
        if (prctl(PR_SET_PDEATHSIG, DEATH_SIGNAL, 0, 0, 0) < 0 || getppid() != parent)
            return EXIT_LOST; /* killed before we could tell: nothing was started yet */
        *sentinel_pid = parent;
        return 0;
    }
    guard_pid = pid;
    struct sigaction sa = {.sa_handler = relay_to_guard, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    for (size_t k = 0; k < NRELAYED; k++)
        sigaction(RELAYED[k], &sa, NULL);
    /* The guard and the command hold the session's stdio; ours must not keep the
     * pipes open past them. */
    int null = open("/dev/null", O_RDWR);
    for (int fd = 0; fd < 3 && null >= 0; fd++)
        dup2(null, fd);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            _exit(EXIT_LOST);
    _exit(exit_code(status));
}

int main(int argc, char **argv)
{
    struct guard g = {.heartbeat_timeout = 20.0, .grace = 2.0, .pipe_w = -1, .sigfd = -1,
                      .out = {-1, -1}};
    int i = 1;
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        fputs(USAGE, stdout);
        return 0;
    }
    while (i < argc) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--")) {
            i++;
            break;
        }
        if (!strcmp(arg, "--detachable")) {
            g.detachable = 1;
            i++;
        } else if (!strcmp(arg, "--env")) {
            /* the launcher's per-daemon settings (PRTE_ESS_K8SGO_ID): one exec fewer per
             * daemon than `env NAME=VALUE COMMAND` */
            const char *eq = i + 1 < argc ? strchr(argv[i + 1], '=') : NULL;
            if (eq == NULL || eq == argv[i + 1]) {
                dprintf(2, "kubexec-guard: --env needs NAME=VALUE\n%s", USAGE);
                return EXIT_USAGE;
            }
            if (putenv(argv[i + 1]) != 0) {
                dprintf(2, "kubexec-guard: --env %s: %s\n", argv[i + 1], strerror(errno));
                return EXIT_USAGE;
            }
            i += 2;
        } else if (!strcmp(arg, "--heartbeat-timeout") || !strcmp(arg, "--grace")) {
            if (i + 1 >= argc) {
                dprintf(2, "kubexec-guard: %s needs a value\n%s", arg, USAGE);
                return EXIT_USAGE;
            }
            double *dest = arg[2] == 'g' ? &g.grace : &g.heartbeat_timeout;
            if (parse_seconds(arg, argv[i + 1], dest) < 0)
                return EXIT_USAGE;
            i += 2;
        } else if (arg[0] == '-') {
            dprintf(2, "kubexec-guard: unknown option %s\n%s", arg, USAGE);
            return EXIT_USAGE;
        } else {
            break;
        }
    }
    if (i >= argc) {
        dprintf(2, "kubexec-guard: no command given\n%s", USAGE);
        return EXIT_USAGE;
    }
    g.command = argv + i;
    describe(&g);

    /* Our stdout/stderr are the command's: never let our own fds land on 0-2. */
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
            return EXIT_LOST;

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, DEATH_SIGNAL);
    sigprocmask(SIG_BLOCK, &mask, NULL); /* queued from the fork on, read from the signalfd */
    int lost = sentinel(&g.sentinel, g.detachable);
    if (lost)
        return lost;
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); /* best effort, as before */
    signal(SIGPIPE, SIG_IGN);
    sigaddset(&mask, SIGCHLD);
    for (size_t k = 0; k < NRELAYED; k++) {
        signal(RELAYED[k], SIG_DFL); /* an inherited SIG_IGN would discard them */
        sigaddset(&mask, RELAYED[k]);
    }
    signal(SIGCHLD, SIG_DFL); /* SIG_IGN would reap children behind our back */
    sigprocmask(SIG_BLOCK, &mask, NULL);

    int fds[2], outs[2][2] = {{-1, -1}, {-1, -1}}, err = 0;
    g.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (g.sigfd < 0 || pipe2(fds, O_CLOEXEC) < 0
        || (g.detachable && (pipe2(outs[0], O_CLOEXEC) < 0 || pipe2(outs[1], O_CLOEXEC) < 0)))
        err = errno;
    else {
        int out_fds[2] = {outs[0][1], outs[1][1]};
        err = spawn(&g, fds[0], out_fds);
        close(fds[0]);
        g.pipe_w = fds[1];
        fcntl(g.pipe_w, F_SETFL, O_NONBLOCK);
        for (int k = 0; k < 2; k++) {
            if (outs[k][1] >= 0)
                close(outs[k][1]);
            g.out[k] = outs[k][0];
            if (g.out[k] >= 0)
                fcntl(g.out[k], F_SETFL, O_NONBLOCK);
        }
    }
    if (err) {
        dprintf(2, "kubexec-guard: cannot run %s: %s\n", g.command[0], strerror(err));
        return err == ENOENT ? 127 : 126;
    }
    return run(&g);
}
