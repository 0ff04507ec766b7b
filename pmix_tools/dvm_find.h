/*
 * Find a running PRRTE DVM the way a user means "the DVM I started here":
 * prte writes rendezvous files <tmpdir>/prte.<pid>/pmix.<host>.tool.<pid>
 * whose first line is its PMIx URI. PMIx's own tool search only looks at
 * the top of the tmp dir, so it never sees these; we look one level down.
 */
#ifndef PT_DVM_FIND_H
#define PT_DVM_FIND_H

#include <sys/types.h>

/* Returns a malloc'd URI of the one live DVM owned by us (pid == 0: any;
 * else only the DVM whose prte has that pid), or NULL after printing why
 * (none found, or several and the caller must choose). */
char *pt_dvm_find(pid_t pid);

/* The URI the environment names, as PMIx servers hand it to their clients
 * (PMIX_SERVER_URI41, ...4, ...3, ...21, ...2, then PMIX_SERVER_URI, which the
 * paper's FAQ exports for prun inside an application container): a malloc'd
 * copy, or NULL when none is set. */
char *pt_env_uri(void);

#endif
