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

#endif
