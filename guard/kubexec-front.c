/* kubexec-front: the program installed as `kubexec`; the Python kubexec is
 * `kubexec-py` beside it.
 *
 * With KUBEXEC_CONTROL_PERSIST > 0 most calls are handed to the user's warm
 * control master (launchers/kubexec/control/master.py), which does all the work; the
 * Python control client (launchers/kubexec/control/client.py) paid a whole interpreter
 * start for ~1 ms of socket work, once per PRRTE daemon. This file speaks the
 * same client protocol without an interpreter:
 *
 *     1. socket $XDG_RUNTIME_DIR/kubexec-UID/master-TAG.sock (else /tmp/...),
 *        TAG = crc32 of the real path of the directory holding this program,
 *        which is the Python side's realpath(dirname(sys.executable)) when we
 *        are installed in the venv's bin; the directory must be a real one,
 *        ours, 0700; the master must run as our uid (SO_PEERCRED);
 *     2. one request: 4-byte big-endian length, then NUL-separated "KX1", cwd,
 *        argc, argv..., KEY=VALUE..., with fds 0, 1, 2 (SCM_RIGHTS; /dev/null
 *        for a closed one);
 *     3. SIGTERM/SIGINT/SIGHUP forwarded as one byte each; a changed parent
 *        (our launcher died) reported as SIGHUP; exit with the status byte.
 *
 * Anything else goes to the Python kubexec by execv, argv unchanged: no
 * PERSIST (the direct path), no master answering (the Python client has the
 * lock logic that starts one; the next calls find it), or a request that could
 * not be handed over. We fall back only before the master had the whole
 * request, so a command is never started twice.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
#define FIRST_CHUNK 4096 /* as control/client.py run(): the fds ride on a small first part */

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

/* A number as Python's float() reads it, decimal only; <= 0 and NaN are "no". */
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
    return *end == '\0' && value > 0;
}

/* KUBEXEC_HEARTBEAT_INTERVAL in ms: bad, <= 0 or missing means 5 s. */
static int heartbeat_ms(void)
{
    const char *text = getenv("KUBEXEC_HEARTBEAT_INTERVAL");
    char *end;
    double value = 5;
    if (text && *text) {
        value = strtod(text, &end);
        while (*end == ' ' || *end == '\t' || *end == '\n')
            end++;
        if (end == text || *end != '\0')
            value = 5;
    }
    if (!(value > 0))
        value = 5;
    value = value * 1000 + 0.999; /* whole ms, rounded up: 0.0001 s is not "no wait" */
    return value > INT_MAX ? INT_MAX : (int)value;
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

/* As control/client.py private_dir(): made 0700 if missing; a real directory, ours, closed. */
static int private_dir(const char *path)
{
    struct stat st;
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return 0;
    if (lstat(path, &st) < 0)
        return 0;
    return S_ISDIR(st.st_mode) && st.st_uid == getuid() && (st.st_mode & 077) == 0;
}

/* A connected socket to a master of our uid, above fd 2, or -1. */
static int connect_master(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    struct ucred cred;
    socklen_t len = sizeof cred;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (fd <= 2) { /* a closed stdio fd: it is sent as /dev/null, not as our socket */
        int high = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        close(fd);
        if ((fd = high) < 0)
            return -1;
    }
    memcpy(addr.sun_path, path, strlen(path) + 1);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0
        || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0
        || cred.uid != getuid()) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The request body as control/client.py encode_request() makes it; NULL if out of memory. */
static char *encode_request(int argc, char **argv, size_t *size)
{
    char *cwd = getcwd(NULL, 0);
    const char *dir = cwd ? cwd : "/";
    char count[16];
    snprintf(count, sizeof count, "%d", argc - 1);
    size_t body = 3 + 1 + strlen(dir) + 1 + strlen(count);
    for (int i = 1; i < argc; i++)
        body += 1 + strlen(argv[i]);
    for (char **e = environ; *e; e++)
        if (strchr(*e, '=')) /* as os.environ, which skips entries without one */
            body += 1 + strlen(*e);
    char *buf = malloc(4 + body + 1), *p = buf + 4; /* + the last field's NUL */
    if (!buf) {
        free(cwd);
        return NULL;
    }
    buf[0] = (char)(body >> 24), buf[1] = (char)(body >> 16);
    buf[2] = (char)(body >> 8), buf[3] = (char)body;
#define FIELD(s) (p = stpcpy(p, (s)) + 1) /* the NUL after it separates the fields */
    FIELD("KX1");
    FIELD(dir);
    FIELD(count);
    for (int i = 1; i < argc; i++)
        FIELD(argv[i]);
    for (char **e = environ; *e; e++)
        if (strchr(*e, '='))
            FIELD(*e);
#undef FIELD
    free(cwd);
    *size = 4 + body; /* the last NUL written is past the body: not sent */
    return buf;
}

/* Hand the request and fds 0, 1, 2 over; 0 if the master did not get all of it. */
static int send_request(int sock, const char *req, size_t size, const int closed[3])
{
    int fds[3];
    for (int fd = 0; fd < 3; fd++) {
        fds[fd] = closed[fd] ? open("/dev/null", O_RDWR | O_CLOEXEC) : fd;
        if (fds[fd] < 0)
            return 0;
    }
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
    ssize_t sent;
    do
        sent = sendmsg(sock, &msg, MSG_NOSIGNAL);
    while (sent < 0 && errno == EINTR);
    for (int fd = 0; fd < 3; fd++)
        if (closed[fd])
            close(fds[fd]); /* the master has its own copy now */
    if (sent <= 0)
        return 0;
    for (size_t done = (size_t)sent; done < size; done += (size_t)sent) {
        sent = send(sock, req + done, size - done, MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR)
            sent = 0;
        else if (sent <= 0)
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

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The status byte; 128+signal or 255 and one line when the session ends without it. */
static int wait_status(int sock)
{
    int interval = heartbeat_ms();
    pid_t parent = getppid();
    double next = now_ms() + interval;
    for (;;) {
        struct pollfd pfd = {.fd = sock, .events = POLLIN};
        double left = next - now_ms();
        int ready = left > 0 ? poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left + 1) : 0;
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready == 0) {
            if (getppid() != parent) {
                /* Our launcher died without killing us: its remote daemon must not outlive it. */
                parent = getppid();
                forward(SIGHUP);
            }
            next = now_ms() + interval;
            continue;
        }
        unsigned char byte;
        ssize_t got = ready > 0 ? recv(sock, &byte, 1, 0) : -1;
        if (got < 0 && errno == EINTR)
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
    saved_argv = argv;
    ssize_t n = readlink("/proc/self/exe", self_dir, sizeof self_dir - 1);
    char *slash;
    if (n <= 0 || (size_t)n >= sizeof self_dir - 1) {
        dprintf(2, "kubexec: cannot find its own path: %s\n",
                n < 0 ? strerror(errno) : "too long");
        return EXIT_FAILURE_KX;
    }
    self_dir[n] = '\0';
    if ((slash = strrchr(self_dir, '/')))
        *(slash == self_dir ? slash + 1 : slash) = '\0';

    if (!positive(getenv("KUBEXEC_CONTROL_PERSIST")))
        run_python();

    /* Which of 0, 1, 2 the caller closed: asked before we open anything. */
    int closed[3];
    for (int fd = 0; fd < 3; fd++)
        closed[fd] = fcntl(fd, F_GETFD) < 0;

    const char *base = getenv("XDG_RUNTIME_DIR");
    char dir[PATH_MAX], path[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/kubexec-%u", base && *base ? base : "/tmp",
             (unsigned)getuid());
    int len = snprintf(path, sizeof path, "%s/master-%08x.sock", dir, crc32_of(self_dir));
    if (len >= (int)sizeof(((struct sockaddr_un *)0)->sun_path) || !private_dir(dir))
        run_python();

    /* Held back until the master has the request: one that comes earlier, when we
     * fall back, meets its old disposition with nothing started. */
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

    int sock = connect_master(path);
    size_t size = 0;
    char *req = sock >= 0 ? encode_request(argc, argv, &size) : NULL;
    if (!req || !send_request(sock, req, size, closed)) {
        for (size_t i = 0; i < NFORWARDED; i++)
            sigaction(FORWARDED[i], &old_act[i], NULL);
        sigprocmask(SIG_SETMASK, &old_mask, NULL);
        if (sock >= 0)
            close(sock);
        run_python();
    }
    free(req);
    master_fd = sock;
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    return wait_status(sock);
}
