/* kubexec-front: the program installed as `kubexec`; the Python kubexec is
 * `kubexec-py` beside it.
 *
 * With KUBEXEC_CONTROL_PERSIST > 0 most calls are handed to the user's warm
 * control master (launchers/kubexec/control/master.py), which does all the
 * work; the Python control client (launchers/kubexec/control/client.py) paid a
 * whole interpreter start for ~1 ms of socket work, once per PRRTE daemon. This
 * file speaks the same client protocol without an interpreter:
 *
 *     1. the control directory as control/rundir.py opens it: the base
 *        ($XDG_RUNTIME_DIR if absolute, ours and 0700, else /tmp), then
 *        kubexec-UID in it by O_NOFOLLOW, checked on the fd (ours, 0700);
 *     2. its socket master-TAG-vVERSION.sock, connected by that name with the
 *        directory as our cwd for the call; TAG = crc32 of the real path of the
 *        directory holding this program (the Python side's
 *        realpath(dirname(sys.executable)) when installed in the venv's bin);
 *        the master must run as our uid (SO_PEERCRED);
 *     3. one request (control/request.py): 4-byte big-endian length, then
 *        NUL-separated "KX<VERSION>", cwd, argc, argv..., KEY=VALUE..., with
 *        fds 0, 1, 2 (SCM_RIGHTS);
 *     4. SIGTERM/SIGINT/SIGHUP forwarded as one byte each; a changed parent
 *        (our launcher died) reported as SIGHUP; exit with the status byte.
 *
 * Anything else goes to the Python kubexec by execv, argv unchanged: no
 * PERSIST (the direct path), no master answering (the Python client has the
 * lock logic that starts one; the next calls find it), or a request that could
 * not be handed over. We fall back only before the master had the whole
 * request, so a command is never started twice. Every wait is bounded or
 * interruptible: the connect does not wait (a master with a full backlog is no
 * master), a signal while the request is being sent abandons it, and after a
 * forwarded signal the status is waited for only so long.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define EXIT_FAILURE_KX 255
#define PROTOCOL_VERSION 2       /* as control/request.py VERSION */
#define MAGIC "KX2"              /* "KX" + PROTOCOL_VERSION */
#define FIRST_CHUNK 4096         /* as request.FIRST_CHUNK: the fds ride on a small first part */
#define MAX_SIZE (16u << 20)     /* as request.MAX_SIZE */
#define SEND_WAIT_MS 10000       /* as client.SEND_WAIT */
#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

static const int FORWARDED[] = {SIGTERM, SIGINT, SIGHUP};
#define NFORWARDED (sizeof FORWARDED / sizeof FORWARDED[0])

extern char **environ;

static char self_dir[PATH_MAX];
static char **saved_argv;
static volatile sig_atomic_t first_signal; /* the first signal forwarded, 0 if none */
static volatile sig_atomic_t master_fd = -1;

/* The Python kubexec, argv as we got it: its own messages name it `kubexec`. */
static void __attribute__((noreturn)) run_python(void)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/kubexec-py", self_dir);
    execv(path, saved_argv);
    dprintf(2, "kubexec: cannot run %s: %s\n", path, strerror(errno));
    _exit(EXIT_FAILURE_KX);
}

/* OpenSSH's sanitise_stdfd: a closed 0, 1 or 2 becomes /dev/null before we open
 * anything, so no fd of ours lands there and is handed over as the call's stdio. */
static void sanitise_stdfd(void)
{
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
            _exit(EXIT_FAILURE_KX);
}

/* Where this program lives: /proc/self/exe, else argv[0] (as a path, or found on
 * PATH as execvp would): without /proc we still run. 0 if not found. */
static int find_self_dir(const char *argv0)
{
    char found[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self_dir, sizeof self_dir - 1);
    if (n > 0 && (size_t)n < sizeof self_dir - 1)
        self_dir[n] = '\0';
    else if (strchr(argv0, '/')) {
        if (!realpath(argv0, self_dir))
            return 0;
    } else {
        const char *path = getenv("PATH");
        const char *p = path && *path ? path : "/usr/local/bin:/usr/bin:/bin";
        for (;;) {
            size_t len = strcspn(p, ":");
            snprintf(found, sizeof found, "%.*s%s%s", (int)len, p, len ? "/" : "", argv0);
            if (access(found, X_OK) == 0 && realpath(found, self_dir))
                break;
            if (!p[len])
                return 0;
            p += len + 1;
        }
    }
    char *slash = strrchr(self_dir, '/');
    if (slash)
        *(slash == self_dir ? slash + 1 : slash) = '\0';
    return 1;
}

/* A finite number of seconds > 0, as Python's float() reads it (decimal only). */
static int positive(const char *text)
{
    if (!text || !*text)
        return 0;
    for (const char *p = text; *p; p++)
        if (!strchr("0123456789.eE+- \t\n", *p))
            return 0; /* hex, inf, nan...: let the Python side decide */
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (end == text || errno)
        return 0;
    while (*end == ' ' || *end == '\t' || *end == '\n')
        end++;
    return *end == '\0' && value > 0 && isfinite(value);
}

/* A setting in seconds, as milliseconds: bad, <= 0 or missing means `fallback`. */
static int setting_ms(const char *name, double fallback)
{
    const char *text = getenv(name);
    char *end;
    double value = fallback;
    if (text && *text) {
        value = strtod(text, &end);
        while (*end == ' ' || *end == '\t' || *end == '\n')
            end++;
        if (end == text || *end != '\0')
            value = fallback;
    }
    if (!(value > 0) || !isfinite(value))
        value = fallback;
    value = value * 1000 + 0.999; /* whole ms, rounded up: 0.0001 s is not "no wait" */
    return value > INT_MAX / 4 ? INT_MAX / 4 : (int)value;
}

/* zlib's crc32 (reflected, polynomial 0xEDB88320), as Python's zlib.crc32. */
static uint32_t crc32_of(const char *s)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (; *s; s++) {
        crc ^= (unsigned char)*s;
        for (int bit = 0; bit < 8; bit++)
            crc = (crc >> 1) ^ (0xEDB88320u & -(crc & 1u));
    }
    return ~crc;
}

/* As rundir.open_dir: an fd of our control directory, checked on the fd, or -1. */
static int control_dir(void)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int is_xdg = xdg && xdg[0] == '/'; /* XDG: a relative path is to be ignored */
    uid_t uid = getuid();
    char name[32];
    struct stat st;
    int fd = -1, parent = open(is_xdg ? xdg : "/tmp", DIR_FLAGS);
    if (parent < 0 || fstat(parent, &st) < 0)
        goto out;
    if (is_xdg ? st.st_uid != uid || (st.st_mode & 077)
               : (st.st_uid != 0 && st.st_uid != uid)
                     || ((st.st_mode & 022) && !(st.st_mode & S_ISVTX)))
        goto out;
    snprintf(name, sizeof name, "kubexec-%u", (unsigned)uid);
    if (mkdirat(parent, name, 0700) < 0 && errno != EEXIST)
        goto out;
    fd = openat(parent, name, DIR_FLAGS);
    if (fd >= 0 && (fstat(fd, &st) < 0 || st.st_uid != uid || (st.st_mode & 077))) {
        close(fd);
        fd = -1;
    }
out:
    if (parent >= 0)
        close(parent);
    return fd;
}

/* A connected socket to a master of our uid, or -1; never waits for an accept. */
static int connect_master(int dir, const char *name)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    struct ucred cred;
    socklen_t len = sizeof cred;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int here = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    int ok = fd >= 0 && here >= 0 && fchdir(dir) == 0;
    if (ok) {
        memcpy(addr.sun_path, name, strlen(name) + 1);
        ok = connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0;
        if (fchdir(here) < 0)
            ok = 0;
    }
    if (here >= 0)
        close(here);
    if (!ok || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0
        || cred.uid != getuid()) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* A name a direct call's getenv could see and putenv could set again. */
static int env_entry(const char *e)
{
    return e[0] != '=' && strchr(e, '=') != NULL;
}

/* The request as control/request.py encode() makes it; NULL if out of memory or too big. */
static char *encode_request(int argc, char **argv, size_t *size)
{
    char *cwd = getcwd(NULL, 0);
    const char *dir = cwd ? cwd : "/";
    char count[16];
    snprintf(count, sizeof count, "%d", argc - 1);
    size_t body = strlen(MAGIC) + 1 + strlen(dir) + 1 + strlen(count);
    for (int i = 1; i < argc; i++)
        body += 1 + strlen(argv[i]);
    for (char **e = environ; *e; e++)
        if (env_entry(*e))
            body += 1 + strlen(*e);
    char *buf = body <= MAX_SIZE ? malloc(4 + body + 1) : NULL; /* + the last NUL */
    if (!buf) {
        free(cwd);
        return NULL;
    }
    char *p = buf + 4;
    buf[0] = (char)(body >> 24), buf[1] = (char)(body >> 16);
    buf[2] = (char)(body >> 8), buf[3] = (char)body;
#define FIELD(s) (p = stpcpy(p, (s)) + 1) /* the NUL after it separates the fields */
    FIELD(MAGIC);
    FIELD(dir);
    FIELD(count);
    for (int i = 1; i < argc; i++)
        FIELD(argv[i]);
    for (char **e = environ; *e; e++)
        if (env_entry(*e))
            FIELD(*e);
#undef FIELD
    free(cwd);
    *size = 4 + body; /* the last NUL written is past the body: not sent */
    return buf;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Wait until `sock` takes more, with the forwarded signals let in meanwhile: 0 once
 * writable, -1 on a signal (the caller gives up) or when the time is over. */
static int wait_writable(int sock, const sigset_t *open_mask, double end_ms)
{
    for (;;) {
        double left = end_ms - now_ms();
        if (left <= 0 || first_signal)
            return -1;
        struct pollfd pfd = {.fd = sock, .events = POLLOUT};
        long ms = (long)left + 1;
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L};
        int ready = ppoll(&pfd, 1, &ts, open_mask);
        if (ready > 0)
            return pfd.revents & POLLOUT ? 0 : -1;
        if (ready < 0 && errno != EINTR)
            return -1;
    }
}

/* Hand the request and fds 0, 1, 2 over; 0 if the master did not get all of it. */
static int send_request(int sock, const char *req, size_t size, const sigset_t *open_mask)
{
    int fds[3] = {0, 1, 2};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof fds)];
    } control;
    memset(&control, 0, sizeof control);
    struct iovec iov = {.iov_base = (void *)req,
                        .iov_len = size < FIRST_CHUNK ? size : FIRST_CHUNK};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = control.buf, .msg_controllen = sizeof control.buf};
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(cmsg), fds, sizeof fds);
    double end = now_ms() + SEND_WAIT_MS;
    ssize_t sent;
    while ((sent = sendmsg(sock, &msg, MSG_NOSIGNAL)) < 0) {
        if ((errno != EAGAIN && errno != EINTR) || wait_writable(sock, open_mask, end) < 0)
            return 0;
    }
    for (size_t done = (size_t)sent; done < size;) {
        sent = send(sock, req + done, size - done, MSG_NOSIGNAL);
        if (sent > 0)
            done += (size_t)sent;
        else if ((sent < 0 && errno != EAGAIN && errno != EINTR)
                 || wait_writable(sock, open_mask, end) < 0)
            return 0;
    }
    return 1;
}

/* One byte per signal; a master already gone answers nothing, which wait_status reports. */
static void forward(int signo)
{
    unsigned char byte = (unsigned char)signo;
    int saved = errno;
    if (!first_signal)
        first_signal = signo;
    if (master_fd >= 0 && send(master_fd, &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
        /* nothing to do: the session's end tells */
    }
    errno = saved;
}

/* The status byte; 128+signal or 255 and one line when the session ends without it. */
static int wait_status(int sock)
{
    int interval = setting_ms("KUBEXEC_HEARTBEAT_INTERVAL", 5);
    /* After a forwarded signal the child waits KUBEXEC_SIGNAL_WAIT for the remote exit,
     * then as long for the kill record: past that, the master is wedged. */
    int grace = 2 * setting_ms("KUBEXEC_SIGNAL_WAIT", 3) + 5000;
    pid_t parent = getppid();
    double next = now_ms() + interval, give_up = 0;
    for (;;) {
        if (first_signal && !give_up)
            give_up = now_ms() + grace;
        if (give_up && now_ms() >= give_up) {
            dprintf(2, "kubexec: control master gave no exit status %g s after signal %d: "
                       "leaving it\n", grace / 1000.0, (int)first_signal);
            return 128 + first_signal;
        }
        double until = give_up && give_up < next ? give_up : next;
        struct pollfd pfd = {.fd = sock, .events = POLLIN};
        double left = until - now_ms();
        int ready = left > 0 ? poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left + 1) : 0;
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready == 0) {
            if (now_ms() >= next) {
                if (getppid() != parent) {
                    /* Our launcher died without killing us: its remote daemon must go too. */
                    parent = getppid();
                    forward(SIGHUP);
                }
                next = now_ms() + interval;
            }
            continue;
        }
        unsigned char byte;
        ssize_t got = ready > 0 ? recv(sock, &byte, 1, 0) : -1;
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (got == 1)
            return byte;
        if (first_signal) /* the signal we forwarded ended the child before it could answer */
            return 128 + first_signal;
        dprintf(2, "kubexec: control master session ended without an exit status "
                   "(set KUBEXEC_CONTROL_PERSIST=0 to connect directly)\n");
        return EXIT_FAILURE_KX;
    }
}

int main(int argc, char **argv)
{
    sanitise_stdfd();
    saved_argv = argv;
    if (!find_self_dir(argc > 0 ? argv[0] : "kubexec")) {
        dprintf(2, "kubexec: cannot find its own path (no /proc, and not found by argv[0])\n");
        return EXIT_FAILURE_KX;
    }
    if (!positive(getenv("KUBEXEC_CONTROL_PERSIST")))
        run_python();

    int dir = control_dir();
    if (dir < 0)
        run_python();
    char name[64];
    snprintf(name, sizeof name, "master-%08x-v%d.sock", crc32_of(self_dir), PROTOCOL_VERSION);

    /* Held back until the master has the request: one that comes earlier, when we
     * fall back, meets its old disposition with nothing started. While we wait for
     * the socket to take more, they are let in, and one abandons the request. */
    sigset_t block, old_mask;
    struct sigaction act = {.sa_handler = forward}, old_act[NFORWARDED];
    sigemptyset(&block);
    for (size_t i = 0; i < NFORWARDED; i++)
        sigaddset(&block, FORWARDED[i]);
    sigprocmask(SIG_BLOCK, &block, &old_mask);
    act.sa_mask = block;
    act.sa_flags = SA_RESTART;
    for (size_t i = 0; i < NFORWARDED; i++)
        sigaction(FORWARDED[i], &act, &old_act[i]);

    int sock = connect_master(dir, name);
    close(dir);
    size_t size = 0;
    char *req = sock >= 0 ? encode_request(argc, argv, &size) : NULL;
    if (!req || !send_request(sock, req, size, &old_mask)) {
        int signo = first_signal;
        for (size_t i = 0; i < NFORWARDED; i++)
            sigaction(FORWARDED[i], &old_act[i], NULL);
        if (sock >= 0)
            close(sock); /* the master's child gets a short request: nothing starts */
        if (signo)
            raise(signo); /* pending, so delivered with its old disposition below */
        sigprocmask(SIG_SETMASK, &old_mask, NULL);
        run_python();
    }
    free(req);
    master_fd = sock;
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    return wait_status(sock);
}
