/*
 * SPDX-License-Identifier: BSD-3-Clause-Open-MPI
 *
 * plm/k8sgo: is daemon i on the host of hostfile line i?
 *
 * The launcher alone decides where daemon i runs; ess/k8sgo only trusts the
 * id it was given. A launcher that mixed two lines up would have PRRTE
 * rename the nodes after the daemons' callbacks (it takes the name a daemon
 * reports) and map ranks onto the wrong pods without a word. So once the
 * daemons have reported, each is checked against its line, by what the
 * daemon itself said: the node name it reported (PRRTE has put it on the
 * node) and the addresses it listens on (its contact URI).
 *
 * A line matches when it is that name, or its first DNS label is the name's
 * (pod.service.namespace, as in Kubernetes a pod's hostname is its name),
 * or it is, or resolves to, one of the daemon's addresses.
 */

#include "prte_config.h"
#include "constants.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "src/runtime/prte_globals.h"
#include "src/util/name_fns.h"
#include "src/util/pmix_output.h"
#include "src/util/pmix_show_help.h"

#include "plm_k8sgo.h"
#include "src/mca/plm/base/base.h"

static bool is_address(const char *s)
{
    unsigned char buf[sizeof(struct in6_addr)];

    return 1 == inet_pton(AF_INET, s, buf) || 1 == inet_pton(AF_INET6, s, buf);
}

/* "hpc-cn-0.hpc-cluster.kube-pmix" and "hpc-cn-0" share their first label */
static bool same_first_label(const char *a, const char *b)
{
    size_t la = strcspn(a, "."), lb = strcspn(b, ".");

    return la == lb && 0 == strncasecmp(a, b, la);
}

/* Does the contact URI ("...;tcp://10.244.0.3,10.0.0.1:port:...") list addr?
 * An address is bounded by "//", ",", "[" before and ":", ",", "]" after. */
static bool uri_lists(const char *uri, const char *addr)
{
    size_t n = strlen(addr);
    const char *at = uri;

    while (NULL != uri && NULL != (at = strstr(at, addr))) {
        char before = at == uri ? '\0' : at[-1], after = at[n];
        if (('/' == before || ',' == before || '[' == before)
            && (':' == after || ',' == after || ']' == after || '\0' == after)) {
            return true;
        }
        at += 1;
    }
    return false;
}

static bool resolves_into(const char *host, const char *uri)
{
    struct addrinfo hints, *res = NULL, *ai;
    char text[INET6_ADDRSTRLEN];
    bool found = false;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    if (0 != getaddrinfo(host, NULL, &hints, &res)) {
        return false;
    }
    for (ai = res; NULL != ai && !found; ai = ai->ai_next) {
        const void *a = AF_INET == ai->ai_family
                            ? (const void *) &((struct sockaddr_in *) ai->ai_addr)->sin_addr
                            : (const void *) &((struct sockaddr_in6 *) ai->ai_addr)->sin6_addr;
        if ((AF_INET == ai->ai_family || AF_INET6 == ai->ai_family)
            && NULL != inet_ntop(ai->ai_family, a, text, sizeof(text))) {
            found = uri_lists(uri, text);
        }
    }
    freeaddrinfo(res);
    return found;
}

static bool line_matches(const char *line, const char *name, const char *uri)
{
    if (0 == strcasecmp(line, name)) {
        return true;
    }
    if (!is_address(line) && !is_address(name) && same_first_label(line, name)) {
        return true;
    }
    if (NULL == uri) {
        return false;
    }
    return is_address(line) ? uri_lists(uri, line) : resolves_into(line, uri);
}

bool prte_plm_k8sgo_check_placement(prte_job_t *daemons)
{
    prte_plm_k8sgo_launch_t *l;
    pmix_rank_t v;
    int i;
    bool all;

    for (i = 0; i < prte_plm_k8sgo_num_launches(); i++) {
        l = prte_plm_k8sgo_launch(i);
        if (l->placed || NULL == l->hosts) {
            continue;
        }
        all = true;
        for (v = l->first; v < l->first + l->count; v++) {
            prte_proc_t *d = (prte_proc_t *) pmix_pointer_array_get_item(daemons->procs, v);
            const char *line = l->hosts[v - l->first];
            if (NULL == d || NULL == d->node || d->state < PRTE_PROC_STATE_RUNNING) {
                all = false; /* not reported yet: checked on a later round */
                continue;
            }
            if (!line_matches(line, d->node->name, d->rml_uri)) {
                pmix_show_help("help-plm-k8sgo.txt", "misplaced-daemon", true,
                               PRTE_VPID_PRINT(v), (int) (v - l->first), line,
                               d->node->name, NULL == d->rml_uri ? "(none)" : d->rml_uri,
                               prte_mca_plm_k8sgo_component.launch_script);
                return false;
            }
            PMIX_OUTPUT_VERBOSE((5, prte_plm_base_framework.framework_output,
                                 "%s plm:k8sgo: daemon %s on %s, as line %d (%s) said",
                                 PRTE_NAME_PRINT(PRTE_PROC_MY_NAME), PRTE_VPID_PRINT(v),
                                 d->node->name, (int) (v - l->first), line));
        }
        l->placed = all;
    }
    return true;
}
